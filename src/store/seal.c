#include "store/seal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "store/keyfile.h"
#include "util/crypto.h"
#include "util/dl_crypto.h"

/* A new key at path, never replacing a file: 0, -EEXIST (someone made one meanwhile), or else. */
static int key_create(const char *path, struct buf *err)
{
    unsigned char key[SEAL_KEY_LEN];
    if (crypto_random(key, sizeof(key))) {
        buf_adds(err, "cannot draw a random key");
        return -EIO;
    }
    int ret = keyfile_create(path, key, sizeof(key), err);
    crypto_wipe(key, sizeof(key));
    return ret;
}

/* -ENOENT without a message when there is no file. */
static int key_read(const char *path, unsigned char key[SEAL_KEY_LEN], struct buf *err)
{
    struct buf b = BUF_INIT;
    int ret = keyfile_read(path, SEAL_KEY_LEN + 1, &b, err);
    if (!ret && b.len != SEAL_KEY_LEN) {
        ret = -EINVAL;
        buf_addf(err, "key file %s holds %s%zu bytes, not a key of %d", path,
                 b.len > SEAL_KEY_LEN ? "more than " : "",
                 b.len > SEAL_KEY_LEN ? (size_t)SEAL_KEY_LEN : b.len, SEAL_KEY_LEN);
    }
    if (!ret)
        memcpy(key, b.data, SEAL_KEY_LEN);
    if (b.alloc)
        crypto_wipe(b.data, b.alloc);
    buf_release(&b);
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
    if (dl_crypto_load(err))
        return -ENOSYS;
    if (crypto_random(nonce, SEAL_NONCE_LEN)) {
        buf_adds(err, "cannot draw a nonce");
        return -EIO;
    }
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
    if (dl_crypto_load(err))
        return -ENOSYS;
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
        crypto_wipe(out, clen);
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
