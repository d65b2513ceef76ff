/*
 * Runs a libFuzzer target's LLVMFuzzerTestOneInput() once on each file
 * named (or each file of each directory named), without libFuzzer: linked
 * with a target and the sanitizer build, it replays a seed corpus in
 * `make check`, where clang may be missing. Exits 0 when every input has
 * run; a finding aborts, as under libFuzzer.
 *
 *     build/san/fuzz-api tests/fuzz/corpus-api
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (1 << 20)

static int run_file(const char *path)
{
    struct buf in = BUF_INIT, err = BUF_INIT;
    if (file_read(path, REPLAY_MAX, &in, &err)) {
        fprintf(stderr, "replay: %s\n", err.data);
        buf_release(&err);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, in.len);
    /* An exact copy, so that ASan sees a read past the input's end. */
    uint8_t *copy = malloc(in.len ? in.len : 1);
    if (!copy)
        abort();
    memcpy(copy, in.data, in.len);
    LLVMFuzzerTestOneInput(copy, in.len);
    free(copy);
    buf_release(&in);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, alloc = 0;
    int rc = 0;
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            names = realloc(names, alloc * sizeof(*names));
            if (!names)
                abort();
        }
        struct buf p = BUF_INIT;
        buf_addf(&p, "%s/%s", dir, de->d_name);
        names[n++] = buf_detach(&p, NULL);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp);
    for (size_t i = 0; i < n; i++) {
        if (run_file(names[i]))
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i])) {
            rc = 1;
        }
    }
    return rc;
}
