#include "store/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/xalloc.h"

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *path, struct buf *err)
{
    const char *last = strrchr(path, '/');
    char *dir = !last          ? xstrdup(".")
                : last == path ? xstrdup("/")
                               : xmemdupz(path, (size_t)(last - path));
    int ret = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd)) {
        ret = -errno;
        buf_addf(err, "cannot sync directory %s: %s", dir, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    free(dir);
    return ret;
}

/* A new key at path, never replacing a file: 0, -EEXIST (someone made one meanwhile), or else. */
static int key_create(const char *path, struct buf *err)
{
    unsigned char key[SEAL_KEY_LEN];
    struct buf tmp = BUF_INIT;
    int fd = -1, ret;

    if (RAND_bytes(key, sizeof(key)) != 1) {
        ERR_clear_error();
        buf_adds(err, "cannot draw a random key");
        return -EIO;
    }
    buf_addf(&tmp, "%s.tmp-XXXXXX", path);
    fd = mkostemp(tmp.data, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        ret = -errno;
        buf_addf(err, "cannot create a temporary key file next to %s: %s", path, strerror(errno));
        buf_reset(&tmp);
        goto out;
    }
    if (fchmod(fd, 0600) || (ret = write_all(fd, key, sizeof(key))) || fsync(fd)) {
        ret = ret ? ret : -errno;
        buf_addf(err, "cannot write %s: %s", tmp.data, strerror(-ret));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        ret = -errno;
        buf_addf(err, "cannot write %s: %s", tmp.data, strerror(errno));
        goto out;
    }
    fd = -1;
    if (link(tmp.data, path)) { /* never replaces a key another process has just made */
        ret = -errno;
        if (ret != -EEXIST)
            buf_addf(err, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    ret = fsync_dir(path, err);
out:
    OPENSSL_cleanse(key, sizeof(key));
    if (fd >= 0)
        close(fd);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    return ret;
}

/* -ENOENT without a message when there is no file. */
static int key_read(const char *path, unsigned char key[SEAL_KEY_LEN], struct buf *err)
{
    struct stat sb;
    unsigned char chunk[SEAL_KEY_LEN + 1];
    size_t got = 0;
    int ret = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        ret = -errno;
        if (ret == -ENOENT)
            return ret;
        if (ret == -ELOOP)
            buf_addf(err, "key file %s is a symbolic link (refused)", path);
        else
            buf_addf(err, "cannot open key file %s: %s", path, strerror(errno));
        return ret;
    }
    if (fstat(fd, &sb)) {
        ret = -errno;
        buf_addf(err, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        ret = -EINVAL;
        buf_addf(err, "key file %s is not a regular file", path);
        goto out;
    }
    if (sb.st_mode & 077) {
        ret = -EPERM;
        buf_addf(err, "key file %s has mode %04o; it must be 0600", path,
                 (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    while (got < sizeof(chunk)) {
        ssize_t n = read(fd, chunk + got, sizeof(chunk) - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            buf_addf(err, "cannot read key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (!n)
            break;
        got += (size_t)n;
    }
    if (got != SEAL_KEY_LEN) {
        ret = -EINVAL;
        buf_addf(err, "key file %s holds %s%zu bytes, not a key of %d", path,
                 got > SEAL_KEY_LEN ? "more than " : "", got > SEAL_KEY_LEN ? SEAL_KEY_LEN : got,
                 SEAL_KEY_LEN);
        goto out;
    }
    memcpy(key, chunk, SEAL_KEY_LEN);
out:
    OPENSSL_cleanse(chunk, sizeof(chunk));
    close(fd);
    return ret;
}

int seal_key_load(const char *path, bool create, unsigned char key[SEAL_KEY_LEN], struct buf *err)
{
    int ret = key_read(path, key, err);
    if (ret != -ENOENT)
        return ret;
    if (!create) {
        buf_addf(err, "there is no key file %s (it is made when the first secret is set)", path);
        return ret;
    }
    ret = key_create(path, err);
    if (ret && ret != -EEXIST)
        return ret;
    ret = key_read(path, key, err);
    if (ret == -ENOENT)
        buf_addf(err, "key file %s disappeared while it was being created", path);
    return ret;
}

static int ssl_fail(struct buf *err, const char *what)
{
    unsigned long e = ERR_get_error();
    buf_adds(err, what);
    if (e) {
        char msg[256];
        ERR_error_string_n(e, msg, sizeof(msg));
        buf_addf(err, " (%s)", msg);
    }
    ERR_clear_error();
    return -EIO;
}

int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *ad, size_t adlen,
                 const void *plain, size_t len, unsigned char nonce[SEAL_NONCE_LEN],
                 struct buf *box, struct buf *err)
{
    EVP_CIPHER_CTX *c = NULL;
    int n = 0, ret = -EIO;
    size_t start = box->len;

    if (len > INT_MAX - 64 || adlen > INT_MAX) {
        buf_adds(err, "too large to seal");
        return -E2BIG;
    }
    if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1)
        return ssl_fail(err, "cannot draw a nonce");
    buf_grow(box, len + SEAL_TAG_LEN);
    unsigned char *out = (unsigned char *)box->data + start;
    if (!(c = EVP_CIPHER_CTX_new()) ||
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
        (adlen && EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen) != 1) ||
        (len && EVP_EncryptUpdate(c, out, &n, plain, (int)len) != 1) ||
        EVP_EncryptFinal_ex(c, out + (len ? n : 0), &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, out + len) != 1) {
        ret = ssl_fail(err, "cannot encrypt");
        goto out;
    }
    buf_setlen(box, start + len + SEAL_TAG_LEN);
    ret = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return ret;
}

int seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const void *ad, size_t adlen,
                 const unsigned char nonce[SEAL_NONCE_LEN], const void *box, size_t len,
                 struct buf *plain, struct buf *err)
{
    EVP_CIPHER_CTX *c = NULL;
    int n = 0, ret = -EIO;
    size_t start = plain->len;
    const unsigned char *in = box;

    if (len < SEAL_TAG_LEN) {
        buf_addf(err, "a sealed value has at least %d bytes, not %zu", SEAL_TAG_LEN, len);
        return -EBADMSG;
    }
    if (len > INT_MAX - 64 || adlen > INT_MAX) {
        buf_adds(err, "too large to open");
        return -E2BIG;
    }
    size_t clen = len - SEAL_TAG_LEN;
    unsigned char tag[SEAL_TAG_LEN];
    memcpy(tag, in + clen, SEAL_TAG_LEN);
    buf_grow(plain, clen + 16);
    unsigned char *out = (unsigned char *)plain->data + start;
    if (!(c = EVP_CIPHER_CTX_new()) ||
        EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
        (adlen && EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen) != 1) ||
        (clen && EVP_DecryptUpdate(c, out, &n, in, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1) {
        ret = ssl_fail(err, "cannot decrypt");
        goto out;
    }
    if (EVP_DecryptFinal_ex(c, out + (clen ? n : 0), &n) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(out, clen);
        buf_adds(err, "it does not decrypt: the key, the data it is bound to or the sealed bytes "
                      "are not what sealed it");
        ret = -EBADMSG;
        goto out;
    }
    buf_setlen(plain, start + clen);
    ret = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return ret;
}
