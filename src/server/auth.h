/*
 * auth: who may do what. Every route of the API names the least role it
 * needs (struct http_route.need); the server's authorize hook compares it
 * with the role of the caller's token, in one place, before a body is read.
 *
 * Roles are ordered: each one may do everything the ones below it may.
 */
#ifndef FLYWHEEL_SERVER_AUTH_H
#define FLYWHEEL_SERVER_AUTH_H

enum auth_role {
    AUTH_ANYONE = 0,    /* no token needed: health, the signing key, forge webhooks */
    AUTH_VIEWER = 1,    /* read */
    AUTH_DEVELOPER = 2, /* trigger, cancel, retry */
    AUTH_DEPLOYER = 3,  /* approve, reject, deploy, rollback, stop and resume the line */
    AUTH_ADMIN = 4,     /* repositories, tokens, secrets, settings */
};

#endif
