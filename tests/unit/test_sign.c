#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sign.h"
#include "util/dl_crypto.h"
#include "tmpdir.h"

/* RFC 8032, section 7.1, test 1: the key, and its signature of the empty message. */
static const char rfc8032_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
static const char rfc8032_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";
/* SHA-256 of the raw public key d75a9801...0751 1a */
static const char rfc8032_id[] =
    "SHA256:21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";
static const unsigned char rfc8032_sig[64] = {
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a,
    0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55,
    0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b,
    0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b,
};

struct fixture {
    char dir[64];
    char key[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-sign-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->key, sizeof(f->key), "%s/signing-key.pem", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static void write_file(const char *path, const char *data, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(data);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, (mode_t)mode), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static struct sign_key *load_ok(const char *path)
{
    struct sign_key *k = NULL;
    struct buf err = BUF_INIT;
    int rc = sign_key_load_or_create(&k, path, &err);
    if (rc)
        fail_msg("sign_key_load_or_create: %s", err.data);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    return k;
}

static void test_create_and_reload(void **state)
{
    struct fixture *f = *state;
    char id1[SIGN_KEYID_LEN + 1], id2[SIGN_KEYID_LEN + 1];
    struct stat sb;

    struct sign_key *k = load_ok(f->key);
    sign_key_id(k, id1);
    assert_int_equal(strlen(id1), SIGN_KEYID_LEN);
    assert_memory_equal(id1, "SHA256:", 7);
    for (int i = 7; i < SIGN_KEYID_LEN; i++)
        assert_non_null(strchr("0123456789abcdef", id1[i]));

    assert_int_equal(lstat(f->key, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(count_entries(f->dir), 1); /* no temporary file left */

    /* Reloaded, it is the same key: same id, and it checks the first one's signatures. */
    struct sign_key *k2 = load_ok(f->key);
    sign_key_id(k2, id2);
    assert_string_equal(id1, id2);
    unsigned char sig[SIGN_SIG_LEN];
    struct buf err = BUF_INIT;
    assert_int_equal(sign_bytes(k, "hello", 5, sig, &err), 0);
    struct sign_pub *p2 = sign_key_pub(k2);
    assert_int_equal(sign_check(p2, "hello", 5, sig, &err), 0);
    assert_int_equal(err.len, 0);

    /* The public PEM gives the same id. */
    struct buf pem = BUF_INIT;
    buf_adds(&pem, "unchanged: ");
    sign_key_public_pem(k, &pem);
    assert_memory_equal(pem.data, "unchanged: -----BEGIN PUBLIC KEY-----\n", 38);
    assert_non_null(strstr(pem.data, "-----END PUBLIC KEY-----\n"));
    struct sign_pub *p = NULL;
    assert_int_equal(sign_pub_from_pem(&p, pem.data + 11, pem.len - 11, &err), 0);
    sign_pub_id(p, id2);
    assert_string_equal(id1, id2);
    assert_int_equal(sign_check(p, "hello", 5, sig, &err), 0);

    /* A second key made elsewhere is another key. */
    char other[160];
    snprintf(other, sizeof(other), "%s/other.pem", f->dir);
    struct sign_key *k3 = load_ok(other);
    sign_key_id(k3, id2);
    assert_string_not_equal(id1, id2);

    sign_pub_free(p);
    sign_pub_free(p2);
    sign_key_free(k);
    sign_key_free(k2);
    sign_key_free(k3);
    buf_release(&pem);
    buf_release(&err);
}

/* A new P-256 key in PEM (PKCS#8) at path, mode 0600. */
static void write_ec_key(const char *path)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    char *pem = strndup(data, (size_t)n);
    write_file(path, pem, 0600);
    free(pem);
    BIO_free(bio);
    EVP_PKEY_free(ec);
}

static void expect_refused(const char *path, int code, const char *msg)
{
    struct sign_key *k = (struct sign_key *)1;
    struct buf err = BUF_INIT;
    assert_int_equal(sign_key_load_or_create(&k, path, &err), code);
    assert_null(k);
    assert_string_equal(err.data, msg);
    buf_release(&err);
}

static void test_refuses_open_mode(void **state)
{
    struct fixture *f = *state;
    char msg[256];
    struct stat sb;

    sign_key_free(load_ok(f->key));
    assert_int_equal(chmod(f->key, 0644), 0);
    snprintf(msg, sizeof(msg), "key file %s has mode 0644; it must be 0600", f->key);
    expect_refused(f->key, -EPERM, msg);
    assert_int_equal(chmod(f->key, 0640), 0);
    snprintf(msg, sizeof(msg), "key file %s has mode 0640; it must be 0600", f->key);
    expect_refused(f->key, -EPERM, msg);
    assert_int_equal(chmod(f->key, 0602), 0);
    snprintf(msg, sizeof(msg), "key file %s has mode 0602; it must be 0600", f->key);
    expect_refused(f->key, -EPERM, msg);
    /* Left alone: not replaced by a new key, not re-moded. */
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0602);
    /* Owner-only read is fine. */
    assert_int_equal(chmod(f->key, 0400), 0);
    sign_key_free(load_ok(f->key));
}

static void test_refuses_other_files(void **state)
{
    struct fixture *f = *state;
    char msg[256], path[160];

    /* A symbolic link, even to a good key. */
    snprintf(path, sizeof(path), "%s/real.pem", f->dir);
    write_file(path, rfc8032_key_pem, 0600);
    assert_int_equal(symlink("real.pem", f->key), 0);
    snprintf(msg, sizeof(msg), "key file %s is a symbolic link (refused)", f->key);
    expect_refused(f->key, -ELOOP, msg);
    /* A dangling one is not replaced either. */
    assert_int_equal(unlink(path), 0);
    expect_refused(f->key, -ELOOP, msg);
    assert_int_equal(unlink(f->key), 0);

    /* A directory. */
    assert_int_equal(mkdir(f->key, 0700), 0);
    snprintf(msg, sizeof(msg), "key file %s is not a regular file", f->key);
    expect_refused(f->key, -EINVAL, msg);
    assert_int_equal(rmdir(f->key), 0);

    /* Not a key; a public key; an encrypted one is not prompted for. */
    snprintf(msg, sizeof(msg), "key file %s is not a PEM private key (or it is encrypted)", f->key);
    write_file(f->key, "not a key\n", 0600);
    expect_refused(f->key, -EINVAL, msg);
    write_file(f->key, rfc8032_pub_pem, 0600);
    expect_refused(f->key, -EINVAL, msg);
    write_file(f->key, "", 0600);
    expect_refused(f->key, -EINVAL, msg);

    /* Another algorithm. */
    write_ec_key(f->key);
    snprintf(msg, sizeof(msg),
             "key file %s holds a key of type EC; flywheel signs with Ed25519 keys only", f->key);
    expect_refused(f->key, -EINVAL, msg);

    /* A directory that does not exist: no key, a reason. */
    struct sign_key *k = NULL;
    struct buf err = BUF_INIT;
    snprintf(path, sizeof(path), "%s/nosuch/key.pem", f->dir);
    assert_int_equal(sign_key_load_or_create(&k, path, &err), -ENOENT);
    assert_null(k);
    assert_non_null(strstr(err.data, "cannot create a temporary key file next to"));
    buf_release(&err);
}

/* sign_key_check reads the key's PEM without OpenSSL: it takes what
 * sign_key_load_or_create takes, and refuses what it refuses, with its reason. */
static void check_says(const char *path, int code, const char *msg)
{
    struct buf err = BUF_INIT;
    assert_int_equal(sign_key_check(path, &err), code);
    if (msg)
        assert_string_equal(err.data, msg);
    else
        assert_int_equal(err.len, 0);
    buf_release(&err);
}

static void test_check_without_openssl(void **state)
{
    struct fixture *f = *state;
    char bad[256], other[256];
    snprintf(bad, sizeof(bad), "key file %s is not a PEM private key (or it is encrypted)", f->key);
    snprintf(other, sizeof(other),
             "key file %s does not hold an Ed25519 key; flywheel signs with Ed25519 keys only",
             f->key);

    check_says(f->key, 0, NULL); /* none yet */
    sign_key_free(load_ok(f->key));
    check_says(f->key, 0, NULL); /* the one made */
    write_file(f->key, rfc8032_key_pem, 0600);
    check_says(f->key, 0, NULL);

    write_file(f->key, "not a key\n", 0600);
    check_says(f->key, -EINVAL, bad);
    write_file(f->key, rfc8032_pub_pem, 0600);
    check_says(f->key, -EINVAL, bad);
    write_file(f->key, "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
               0600);
    check_says(f->key, -EINVAL, bad);

    /* Another algorithm. */
    write_ec_key(f->key);
    check_says(f->key, -EINVAL, other);

    /* An encrypted one (PKCS#8 EncryptedPrivateKeyInfo). */
    write_file(f->key,
               "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
               "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiVl3HXY0sG8AICCAAw\n"
               "-----END ENCRYPTED PRIVATE KEY-----\n",
               0600);
    check_says(f->key, -EINVAL, bad);

    /* The file's own checks come first. */
    assert_int_equal(chmod(f->key, 0644), 0);
    snprintf(bad, sizeof(bad), "key file %s has mode 0644; it must be 0600", f->key);
    check_says(f->key, -EPERM, bad);
}

static void test_known_answer(void **state)
{
    struct fixture *f = *state;
    char id[SIGN_KEYID_LEN + 1];
    unsigned char sig[SIGN_SIG_LEN];
    struct buf err = BUF_INIT, pem = BUF_INIT;

    write_file(f->key, rfc8032_key_pem, 0600);
    struct sign_key *k = load_ok(f->key);
    sign_key_id(k, id);
    assert_string_equal(id, rfc8032_id);
    sign_key_public_pem(k, &pem);
    assert_string_equal(pem.data, rfc8032_pub_pem);
    assert_int_equal(sign_bytes(k, NULL, 0, sig, &err), 0);
    assert_memory_equal(sig, rfc8032_sig, sizeof(sig));

    struct sign_pub *p = NULL;
    assert_int_equal(sign_pub_from_pem(&p, rfc8032_pub_pem, strlen(rfc8032_pub_pem), &err), 0);
    sign_pub_id(p, id);
    assert_string_equal(id, rfc8032_id);
    assert_int_equal(sign_check(p, "", 0, rfc8032_sig, &err), 0);
    assert_int_equal(err.len, 0);

    sign_pub_free(p);
    sign_key_free(k);
    buf_release(&pem);
    buf_release(&err);
}

static void test_roundtrip_and_tamper(void **state)
{
    struct fixture *f = *state;
    unsigned char msg[300], sig[SIGN_SIG_LEN], bad[SIGN_SIG_LEN];
    struct buf err = BUF_INIT;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    struct sign_key *k = load_ok(f->key);
    struct sign_pub *p = sign_key_pub(k);
    assert_int_equal(sign_bytes(k, msg, sizeof(msg), sig, &err), 0);
    assert_int_equal(sign_check(p, msg, sizeof(msg), sig, &err), 0);
    assert_int_equal(err.len, 0);

    /* Ed25519 is deterministic: the same message, the same signature. */
    assert_int_equal(sign_bytes(k, msg, sizeof(msg), bad, &err), 0);
    assert_memory_equal(sig, bad, sizeof(sig));

    /* One flipped bit anywhere in the message or the signature. */
    for (size_t i = 0; i < sizeof(msg); i += 37) {
        msg[i] ^= 0x01;
        assert_int_equal(sign_check(p, msg, sizeof(msg), sig, &err), -EBADMSG);
        assert_string_equal(err.data, "signature does not match");
        buf_reset(&err);
        msg[i] ^= 0x01;
    }
    for (size_t i = 0; i < sizeof(sig); i++) {
        memcpy(bad, sig, sizeof(sig));
        bad[i] ^= 0x80;
        assert_int_equal(sign_check(p, msg, sizeof(msg), bad, &err), -EBADMSG);
        buf_reset(&err);
    }
    /* A shorter or longer message. */
    assert_int_equal(sign_check(p, msg, sizeof(msg) - 1, sig, &err), -EBADMSG);
    buf_reset(&err);

    /* Another key's public half. */
    char other[160];
    snprintf(other, sizeof(other), "%s/other.pem", f->dir);
    struct sign_key *k2 = load_ok(other);
    struct sign_pub *p2 = sign_key_pub(k2);
    assert_int_equal(sign_check(p2, msg, sizeof(msg), sig, &err), -EBADMSG);
    buf_reset(&err);

    /* The signature still checks after all that. */
    assert_int_equal(sign_check(p, msg, sizeof(msg), sig, &err), 0);

    sign_pub_free(p);
    sign_pub_free(p2);
    sign_key_free(k);
    sign_key_free(k2);
    buf_release(&err);
}

static void test_pub_from_pem_errors(void **state)
{
    (void)state;
    struct sign_pub *p = (struct sign_pub *)1;
    struct buf err = BUF_INIT;

    assert_int_equal(sign_pub_from_pem(&p, "", 0, &err), -EINVAL);
    assert_null(p);
    assert_string_equal(err.data, "not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
    buf_reset(&err);
    assert_int_equal(sign_pub_from_pem(&p, rfc8032_key_pem, strlen(rfc8032_key_pem), &err),
                     -EINVAL);
    buf_reset(&err);
    /* Cut short. */
    assert_int_equal(sign_pub_from_pem(&p, rfc8032_pub_pem, 40, &err), -EINVAL);
    buf_reset(&err);

    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, ec), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_int_equal(sign_pub_from_pem(&p, data, (size_t)n, &err), -EINVAL);
    assert_string_equal(err.data,
                        "the public key is of type EC; flywheel signs with Ed25519 keys only");
    BIO_free(bio);
    EVP_PKEY_free(ec);
    buf_release(&err);
}

int main(void)
{
    /* The EC keys made here (to be refused) come from libcrypto itself. */
    struct buf why = BUF_INIT;
    if (dl_crypto_load(&why)) {
        fprintf(stderr, "%s\n", why.data);
        return 1;
    }
    buf_release(&why);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_and_reload),     T(test_refuses_open_mode), T(test_refuses_other_files),
        T(test_check_without_openssl), T(test_known_answer),      T(test_roundtrip_and_tamper),
        T(test_pub_from_pem_errors),
    };
#undef T
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
