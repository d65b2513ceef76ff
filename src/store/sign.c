#include "store/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/keyfile.h"
#include "util/base64.h"
#include "util/crypto.h"
#include "util/dl_crypto.h"
#include "util/xalloc.h"

#define SIGN_RAW_LEN  32          /* a raw Ed25519 public key */
#define SIGN_FILE_MAX (64 * 1024) /* a PEM key is a few hundred bytes */

struct sign_key {
    EVP_PKEY *pkey;
    char id[SIGN_KEYID_LEN + 1];
};

struct sign_pub {
    EVP_PKEY *pkey;
    char id[SIGN_KEYID_LEN + 1];
};

/* Appends OpenSSL's first queued error, if any, and empties the queue. */
static void sign_add_ssl_error(struct buf *err)
{
    unsigned long e = ERR_get_error();
    if (e) {
        char msg[256];
        ERR_error_string_n(e, msg, sizeof(msg));
        buf_addf(err, " (%s)", msg);
    }
    ERR_clear_error();
}

/* Writes the key id of pkey to id; -EINVAL when it is not an Ed25519 key. */
static int sign_compute_id(EVP_PKEY *pkey, char id[SIGN_KEYID_LEN + 1])
{
    unsigned char raw[SIGN_RAW_LEN], md[SHA256_LEN];
    size_t rawlen = sizeof(raw);

    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != SIGN_RAW_LEN) {
        ERR_clear_error();
        return -EINVAL;
    }
    sha256(raw, rawlen, md);
    memcpy(id, "SHA256:", 7);
    crypto_hex(md, sizeof(md), id + 7);
    return 0;
}

static const char *sign_type_name(const EVP_PKEY *pkey)
{
    const char *name = EVP_PKEY_get0_type_name(pkey);
    return name ? name : "unknown";
}

/* Never asks for a passphrase: an encrypted key file is refused, not prompted for. */
static int sign_no_passphrase(char *b, int size, int rwflag, void *u)
{
    (void)b;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/*
 * Writes a new key to path without replacing anything there. Returns 0,
 * -EEXIST when path appeared meanwhile (the caller loads it), or another
 * error.
 */
static int sign_create(const char *path, struct buf *err)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    char *pem = NULL;
    long pemlen = 0;
    int ret = -EIO;

    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1) {
        buf_adds(err, "cannot generate an Ed25519 key");
        sign_add_ssl_error(err);
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
        buf_adds(err, "cannot encode the new key as PEM");
        sign_add_ssl_error(err);
        goto out;
    }

    ret = keyfile_create(path, pem, (size_t)pemlen, err);
out:
    if (pem)
        crypto_wipe(pem, pemlen > 0 ? (size_t)pemlen : 0);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return ret;
}

/*
 * Whether pem holds one unencrypted Ed25519 private key in PKCS#8 (RFC 8410:
 * version 0 or 1, the algorithm 1.3.101.112, the 32-byte key as an OCTET
 * STRING in the OCTET STRING), read without OpenSSL. The reason in err if
 * not, as sign_key_load_or_create() would give it.
 */
static int sign_pem_check(const char *path, const struct buf *pem, struct buf *err)
{
    static const char begin[] = "-----BEGIN PRIVATE KEY-----", end[] = "-----END PRIVATE KEY-----";
    /* SEQUENCE { INTEGER v, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } ... }
     */
    static const unsigned char alg[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
                                        0x70, 0x04, 0x22, 0x04, 0x20};
    const char *b = memmem(pem->data, pem->len, begin, sizeof(begin) - 1);
    const char *e = b ? memmem(b, pem->len - (size_t)(b - pem->data), end, sizeof(end) - 1) : NULL;
    struct buf b64 = BUF_INIT, der = BUF_INIT;
    int ret = -EINVAL;
    if (!b || !e) {
        buf_addf(err, "key file %s is not a PEM private key (or it is encrypted)", path);
        goto out;
    }
    for (const char *p = b + sizeof(begin) - 1; p < e; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
            buf_addch(&b64, *p);
    if (base64_decode(b64.data ? b64.data : "", b64.len, &der) || der.len < 2 + 3 + sizeof(alg)) {
        buf_addf(err, "key file %s is not a PEM private key (or it is encrypted)", path);
        goto out;
    }
    const unsigned char *d = (const unsigned char *)der.data;
    if (d[0] != 0x30 || d[1] >= 0x80 || (size_t)d[1] + 2 != der.len || d[2] != 0x02 ||
        d[3] != 0x01 || d[4] > 1 || memcmp(d + 5, alg, sizeof(alg)) ||
        der.len < 5 + sizeof(alg) + 32) {
        buf_addf(err,
                 "key file %s does not hold an Ed25519 key; flywheel signs with Ed25519 keys only",
                 path);
        goto out;
    }
    ret = 0;
out:
    if (b64.alloc)
        crypto_wipe(b64.data, b64.alloc);
    if (der.alloc)
        crypto_wipe(der.data, der.alloc);
    buf_release(&b64);
    buf_release(&der);
    return ret;
}

int sign_key_check(const char *path, struct buf *err)
{
    struct buf pem = BUF_INIT;
    int ret = keyfile_read(path, SIGN_FILE_MAX, &pem, err);
    if (!ret)
        ret = sign_pem_check(path, &pem, err);
    if (pem.alloc)
        crypto_wipe(pem.data, pem.alloc);
    buf_release(&pem);
    return ret == -ENOENT ? 0 : ret;
}

int sign_key_load_or_create(struct sign_key **out, const char *path, struct buf *err)
{
    struct buf pem = BUF_INIT;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    int ret, tries = 0;

    *out = NULL;
    if (dl_crypto_load(err))
        return -ENOSYS;
    for (;;) {
        ret = keyfile_read(path, SIGN_FILE_MAX, &pem, err);
        if (ret != -ENOENT || tries++)
            break;
        ret = sign_create(path, err);
        if (ret && ret != -EEXIST)
            break;
    }
    if (ret == -ENOENT)
        buf_addf(err, "key file %s disappeared while it was being created", path);
    if (ret)
        goto out;

    ret = -EINVAL;
    if (pem.len > INT_MAX || !(bio = BIO_new_mem_buf(pem.data, (int)pem.len))) {
        buf_addf(err, "key file %s: out of memory", path);
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, sign_no_passphrase, NULL);
    if (!pkey) {
        buf_addf(err, "key file %s is not a PEM private key (or it is encrypted)", path);
        ERR_clear_error();
        goto out;
    }
    struct sign_key *k = xcalloc(1, sizeof(*k));
    if (sign_compute_id(pkey, k->id)) {
        buf_addf(err, "key file %s holds a key of type %s; flywheel signs with Ed25519 keys only",
                 path, sign_type_name(pkey));
        free(k);
        goto out;
    }
    k->pkey = pkey;
    pkey = NULL;
    *out = k;
    ret = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (pem.alloc)
        crypto_wipe(pem.data, pem.alloc);
    buf_release(&pem);
    return ret;
}

void sign_key_free(struct sign_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

static void sign_pkey_public_pem(EVP_PKEY *pkey, struct buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0)
        abort(); /* only memory can fail here */
    buf_add(out, data, (size_t)n);
    BIO_free(bio);
}

void sign_key_public_pem(const struct sign_key *k, struct buf *out)
{
    sign_pkey_public_pem(k->pkey, out);
}

void sign_key_id(const struct sign_key *k, char out[SIGN_KEYID_LEN + 1])
{
    memcpy(out, k->id, SIGN_KEYID_LEN + 1);
}

struct sign_pub *sign_key_pub(const struct sign_key *k)
{
    unsigned char raw[SIGN_RAW_LEN];
    size_t rawlen = sizeof(raw);
    EVP_PKEY *pkey = NULL;
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1 ||
        !(pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen)))
        abort(); /* a loaded Ed25519 key always has its public half */
    struct sign_pub *p = xcalloc(1, sizeof(*p));
    p->pkey = pkey;
    memcpy(p->id, k->id, sizeof(p->id));
    return p;
}

int sign_pub_from_pem(struct sign_pub **out, const char *pem, size_t len, struct buf *err)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int ret = -EINVAL;

    *out = NULL;
    if (dl_crypto_load(err))
        return -ENOSYS;
    if (len > SIGN_FILE_MAX) {
        buf_addf(err, "public key is larger than %d bytes: not a key", SIGN_FILE_MAX);
        goto out;
    }
    if (!(bio = BIO_new_mem_buf(pem, (int)len))) {
        buf_adds(err, "public key: out of memory");
        goto out;
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, sign_no_passphrase, NULL);
    if (!pkey) {
        buf_adds(err, "not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
        ERR_clear_error();
        goto out;
    }
    struct sign_pub *p = xcalloc(1, sizeof(*p));
    if (sign_compute_id(pkey, p->id)) {
        buf_addf(err, "the public key is of type %s; flywheel signs with Ed25519 keys only",
                 sign_type_name(pkey));
        free(p);
        goto out;
    }
    p->pkey = pkey;
    pkey = NULL;
    *out = p;
    ret = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ret;
}

void sign_pub_id(const struct sign_pub *p, char out[SIGN_KEYID_LEN + 1])
{
    memcpy(out, p->id, SIGN_KEYID_LEN + 1);
}

void sign_pub_free(struct sign_pub *p)
{
    if (!p)
        return;
    EVP_PKEY_free(p->pkey);
    free(p);
}

int sign_bytes(const struct sign_key *k, const void *msg, size_t len,
               unsigned char sig[SIGN_SIG_LEN], struct buf *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = SIGN_SIG_LEN;
    int ret = 0;

    /* Ed25519 is one-shot: no digest is named, the whole message is signed. */
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, msg ? msg : "", len) != 1 || siglen != SIGN_SIG_LEN) {
        buf_adds(err, "cannot sign with Ed25519");
        sign_add_ssl_error(err);
        ret = -EIO;
    }
    EVP_MD_CTX_free(ctx);
    return ret;
}

int sign_check(const struct sign_pub *p, const void *msg, size_t len,
               const unsigned char sig[SIGN_SIG_LEN], struct buf *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ret = 0;

    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, p->pkey) != 1) {
        buf_adds(err, "cannot check an Ed25519 signature");
        sign_add_ssl_error(err);
        ret = -EIO;
    } else if (EVP_DigestVerify(ctx, sig, SIGN_SIG_LEN, msg ? msg : "", len) != 1) {
        /* 0 is a bad signature; a negative result a malformed one: both do not match. */
        buf_adds(err, "signature does not match");
        ERR_clear_error();
        ret = -EBADMSG;
    }
    EVP_MD_CTX_free(ctx);
    return ret;
}
