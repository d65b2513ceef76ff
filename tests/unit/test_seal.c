#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/seal.h"
#include "store/secret.h"
#include "store/store.h"
#include "util/buf.h"
#include "tmpdir.h"

struct fixture {
    char dir[64];
    char key[128];
    char db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-seal-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->key, sizeof(f->key), "%s/%s", f->dir, STORE_SECRET_KEY_FILE);
    snprintf(f->db, sizeof(f->db), "%s/flywheel.db", f->dir);
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

static void key_ok(const char *path, bool create, unsigned char key[SEAL_KEY_LEN])
{
    struct buf err = BUF_INIT;
    int rc = seal_key_load(path, create, key, &err);
    if (rc)
        fail_msg("seal_key_load(%s): %d: %s", path, rc, err.data);
    buf_release(&err);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    unsigned char key[SEAL_KEY_LEN], nonce[SEAL_NONCE_LEN], nonce2[SEAL_NONCE_LEN];
    struct buf box = BUF_INIT, box2 = BUF_INIT, plain = BUF_INIT, err = BUF_INIT;
    const char *msg = "-----BEGIN KEY-----\nsecret bytes\n-----END KEY-----\n";
    key_ok(f->key, true, key);
    assert_int_equal(seal_encrypt(key, "ad", 2, msg, strlen(msg), nonce, &box, &err), 0);
    assert_int_equal(box.len, strlen(msg) + SEAL_TAG_LEN);
    assert_null(memmem(box.data, box.len, "secret bytes", 12));
    assert_int_equal(seal_decrypt(key, "ad", 2, nonce, box.data, box.len, &plain, &err), 0);
    assert_int_equal(plain.len, strlen(msg));
    assert_memory_equal(plain.data, msg, plain.len);
    /* a fresh nonce each time: the same plaintext seals differently */
    assert_int_equal(seal_encrypt(key, "ad", 2, msg, strlen(msg), nonce2, &box2, &err), 0);
    assert_memory_not_equal(nonce, nonce2, SEAL_NONCE_LEN);
    assert_memory_not_equal(box.data, box2.data, box.len);
    /* appended to what the buffers held; and nothing at all seals too */
    buf_reset(&plain);
    buf_adds(&plain, "x:");
    assert_int_equal(seal_decrypt(key, "ad", 2, nonce, box.data, box.len, &plain, &err), 0);
    assert_int_equal(strncmp(plain.data, "x:-----BEGIN", 12), 0);
    buf_reset(&box);
    buf_reset(&plain);
    assert_int_equal(seal_encrypt(key, NULL, 0, "", 0, nonce, &box, &err), 0);
    assert_int_equal(box.len, SEAL_TAG_LEN);
    assert_int_equal(seal_decrypt(key, NULL, 0, nonce, box.data, box.len, &plain, &err), 0);
    assert_int_equal(plain.len, 0);
    assert_int_equal(err.len, 0);
    buf_release(&box);
    buf_release(&box2);
    buf_release(&plain);
    buf_release(&err);
}

static void test_tamper(void **state)
{
    struct fixture *f = *state;
    unsigned char key[SEAL_KEY_LEN], nonce[SEAL_NONCE_LEN];
    struct buf box = BUF_INIT, plain = BUF_INIT, err = BUF_INIT;
    key_ok(f->key, true, key);
    assert_int_equal(
        seal_encrypt(key, "repo 1 TOKEN", 12, "hunter2-hunter2", 15, nonce, &box, &err), 0);
    /* every bit of the ciphertext and the tag */
    for (size_t i = 0; i < box.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            box.data[i] ^= (char)(1 << bit);
            buf_reset(&err);
            assert_int_equal(
                seal_decrypt(key, "repo 1 TOKEN", 12, nonce, box.data, box.len, &plain, &err),
                -EBADMSG);
            assert_int_equal(plain.len, 0);
            box.data[i] ^= (char)(1 << bit);
        }
    }
    /* the nonce */
    for (size_t i = 0; i < SEAL_NONCE_LEN; i++) {
        nonce[i] ^= 1;
        assert_int_equal(
            seal_decrypt(key, "repo 1 TOKEN", 12, nonce, box.data, box.len, &plain, &err),
            -EBADMSG);
        nonce[i] ^= 1;
    }
    /* truncated, or too short to hold a tag */
    assert_int_equal(
        seal_decrypt(key, "repo 1 TOKEN", 12, nonce, box.data, box.len - 1, &plain, &err),
        -EBADMSG);
    assert_int_equal(seal_decrypt(key, "repo 1 TOKEN", 12, nonce, box.data, 3, &plain, &err),
                     -EBADMSG);
    /* wrong associated data: another repository, another name, none */
    assert_int_equal(seal_decrypt(key, "repo 2 TOKEN", 12, nonce, box.data, box.len, &plain, &err),
                     -EBADMSG);
    assert_int_equal(seal_decrypt(key, "repo 1 TOKEM", 12, nonce, box.data, box.len, &plain, &err),
                     -EBADMSG);
    assert_int_equal(seal_decrypt(key, NULL, 0, nonce, box.data, box.len, &plain, &err), -EBADMSG);
    /* wrong key */
    unsigned char other[SEAL_KEY_LEN];
    memcpy(other, key, sizeof(other));
    other[31] ^= 0x80;
    assert_int_equal(
        seal_decrypt(other, "repo 1 TOKEN", 12, nonce, box.data, box.len, &plain, &err), -EBADMSG);
    assert_int_equal(plain.len, 0);
    /* the untouched box still opens */
    assert_int_equal(seal_decrypt(key, "repo 1 TOKEN", 12, nonce, box.data, box.len, &plain, &err),
                     0);
    assert_string_equal(plain.data, "hunter2-hunter2");
    buf_release(&box);
    buf_release(&plain);
    buf_release(&err);
}

static void test_key_file(void **state)
{
    struct fixture *f = *state;
    unsigned char k1[SEAL_KEY_LEN], k2[SEAL_KEY_LEN];
    struct buf err = BUF_INIT;
    struct stat sb;

    /* not there: only made when asked to */
    assert_int_equal(seal_key_load(f->key, false, k1, &err), -ENOENT);
    assert_non_null(strstr(err.data, "no key file"));
    assert_int_not_equal(access(f->key, F_OK), 0);
    key_ok(f->key, true, k1);
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, SEAL_KEY_LEN);
    key_ok(f->key, false, k2); /* the same key again */
    assert_memory_equal(k1, k2, SEAL_KEY_LEN);
    key_ok(f->key, true, k2); /* and never replaced */
    assert_memory_equal(k1, k2, SEAL_KEY_LEN);

    /* others may read it: refused, and left as it is */
    buf_reset(&err);
    assert_int_equal(chmod(f->key, 0640), 0);
    assert_int_equal(seal_key_load(f->key, true, k2, &err), -EPERM);
    assert_non_null(strstr(err.data, "has mode 0640; it must be 0600"));
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(chmod(f->key, 0600), 0);

    /* a symbolic link */
    char link[160];
    snprintf(link, sizeof(link), "%s/link.key", f->dir);
    assert_int_equal(symlink(f->key, link), 0);
    buf_reset(&err);
    assert_int_equal(seal_key_load(link, true, k2, &err), -ELOOP);
    assert_non_null(strstr(err.data, "symbolic link"));

    /* not 32 bytes */
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/short.key", f->dir);
    int fd = open(bad, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    buf_reset(&err);
    assert_int_equal(seal_key_load(bad, true, k2, &err), -EINVAL);
    assert_non_null(strstr(err.data, "holds 10 bytes"));
    /* a directory */
    buf_reset(&err);
    assert_int_equal(seal_key_load(f->dir, true, k2, &err), -EINVAL);
    buf_release(&err);
}

/* ---- the store's secrets --------------------------------------------------- */

static struct store *open_store(const char *db, int64_t *repo1, int64_t *repo2)
{
    struct store *st = NULL;
    struct buf err = BUF_INIT;
    assert_int_equal(store_open(&st, db, &err), 0);
    struct store_repo r = {.name = "app", .url = "/x", .main_branch = "main"};
    *repo1 = store_repo_insert(st, &r, &err);
    r.name = "other";
    *repo2 = store_repo_insert(st, &r, &err);
    assert_true(*repo1 > 0 && *repo2 > 0);
    buf_release(&err);
    return st;
}

/* Does file path hold needle anywhere? */
static bool file_holds(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    struct buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    bool found = memmem(b.data, b.len, needle, strlen(needle)) != NULL;
    buf_release(&b);
    return found;
}

static void test_store_secrets(void **state)
{
    struct fixture *f = *state;
    int64_t app, other;
    struct store *st = open_store(f->db, &app, &other);
    unsigned char key[SEAL_KEY_LEN];
    struct buf err = BUF_INIT, val = BUF_INIT;
    bool created = false;
    const char *v1 = "correct-horse-battery-staple";

    assert_int_equal(store_secret_key(f->dir, true, key, &err), 0);
    assert_int_equal(
        store_secret_set(st, key, app, "TOKEN", v1, strlen(v1), "alice", 1000, &created, &err), 0);
    assert_true(created);
    assert_int_equal(store_secret_get(st, key, app, "TOKEN", &val, &err), 0);
    assert_string_equal(val.data, v1);
    /* another repository has its own secrets */
    buf_reset(&val);
    assert_int_equal(store_secret_get(st, key, other, "TOKEN", &val, &err), -ENOENT);
    assert_int_equal(store_secret_get(st, key, app, "NOPE", &val, &err), -ENOENT);

    /* set again: replaced, created kept, who and when updated */
    assert_int_equal(
        store_secret_set(st, key, app, "TOKEN", "second-value", 12, "bob", 2000, &created, &err),
        0);
    assert_false(created);
    assert_int_equal(
        store_secret_set(st, key, app, "A_KEY", "a-key-value", 11, "", 3000, &created, &err), 0);
    struct store_secret *list = NULL;
    size_t n = 0;
    assert_int_equal(store_secret_list(st, app, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "A_KEY");
    assert_string_equal(list[1].name, "TOKEN");
    assert_int_equal(list[1].created_ms, 1000);
    assert_int_equal(list[1].updated_ms, 2000);
    assert_string_equal(list[1].set_by, "bob");
    store_secrets_release(list, n);
    buf_reset(&val);
    assert_int_equal(store_secret_get(st, key, app, "TOKEN", &val, &err), 0);
    assert_string_equal(val.data, "second-value");

    /* a row moved to another name or repository does not decrypt */
    char *sqlerr = NULL;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE secrets SET name = 'SWAPPED' WHERE name = 'A_KEY';"
                                  "UPDATE secrets SET repo_id = 2 WHERE name = 'TOKEN';",
                                  NULL, NULL, &sqlerr),
                     SQLITE_OK);
    buf_reset(&val);
    assert_int_equal(store_secret_get(st, key, app, "SWAPPED", &val, &err), -EBADMSG);
    assert_int_equal(store_secret_get(st, key, other, "TOKEN", &val, &err), -EBADMSG);
    assert_int_equal(val.len, 0);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE secrets SET name = 'A_KEY' WHERE name = 'SWAPPED';"
                                  "UPDATE secrets SET repo_id = 1 WHERE name = 'TOKEN';",
                                  NULL, NULL, &sqlerr),
                     SQLITE_OK);
    sqlite3_close(db);
    buf_reset(&err);
    assert_int_equal(store_secret_get(st, key, app, "A_KEY", &val, &err), 0);
    assert_string_equal(val.data, "a-key-value");

    /* values by name, with why the missing ones are missing */
    const char *names[] = {"TOKEN", "MISSING", "TOKEN"};
    struct store_secret_value *vals = NULL;
    assert_int_equal(store_secret_values(st, f->dir, app, "app", names, 3, &vals, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(vals[0].value, "second-value");
    assert_int_equal(vals[0].len, 12);
    assert_null(vals[0].error);
    assert_null(vals[1].value);
    assert_string_equal(vals[1].error, "secret 'MISSING' is not set for repository 'app' (set it "
                                       "with: flywheel secret set app MISSING)");
    store_secret_values_release(vals, n);

    /* the value is nowhere in the database's files in clear */
    store_close(st);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_false(file_holds(f->db, "second-value"));
    assert_false(file_holds(wal, "second-value"));
    assert_false(file_holds(f->db, "a-key-value"));
    assert_false(file_holds(wal, "a-key-value"));
    assert_false(file_holds(wal, v1));
    assert_true(file_holds(f->db, "A_KEY") || file_holds(wal, "A_KEY")); /* names are there */

    /* another key file: the secrets are unreadable, and say why */
    assert_int_equal(store_open(&st, f->db, &err), 0);
    assert_int_equal(unlink(f->key), 0);
    assert_int_equal(store_secret_values(st, f->dir, app, "app", names, 2, &vals, &n, &err), 0);
    assert_null(vals[0].value);
    assert_non_null(strstr(vals[0].error, "cannot be read: there is no key file"));
    assert_non_null(strstr(vals[1].error, "is not set"));
    store_secret_values_release(vals, n);
    assert_int_equal(store_secret_key(f->dir, true, key, &err), 0); /* a new one */
    assert_int_equal(store_secret_values(st, f->dir, app, "app", names, 1, &vals, &n, &err), 0);
    assert_null(vals[0].value);
    assert_non_null(strstr(vals[0].error, "does not decrypt"));
    store_secret_values_release(vals, n);

    /* deleted */
    assert_int_equal(store_secret_delete(st, app, "TOKEN", &err), 0);
    assert_int_equal(store_secret_delete(st, app, "TOKEN", &err), -ENOENT);
    assert_int_equal(store_secret_list(st, app, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    store_secrets_release(list, n);
    store_close(st);
    buf_release(&err);
    buf_release(&val);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_secrets, setup, teardown),
    };
    return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
