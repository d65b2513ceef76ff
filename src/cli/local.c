#include "cli/local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/workspace.h"
#include "util/xalloc.h"

int cli_local_open(struct cli_local *lc, const char *dir, unsigned flags, struct buf *err)
{
    struct buf b = BUF_INIT;
    memset(lc, 0, sizeof(*lc));
    if (ws_find_repo(dir ? dir : ".", &b, err))
        goto fail;
    lc->repo = buf_detach(&b, NULL);
    buf_addf(&b, "%s/.flywheel", lc->repo);
    lc->state_dir = buf_detach(&b, NULL);
    struct stat st;
    if (stat(lc->state_dir, &st)) {
        if (!(flags & CLI_LOCAL_CREATE)) {
            buf_addf(err, "no runs yet in %s (flywheel run makes them)", lc->repo);
            goto fail;
        }
    }
    if ((flags & CLI_LOCAL_CREATE) && ws_state_init(lc->repo, lc->state_dir, err))
        goto fail;
    buf_addf(&b, "%s/flywheel.db", lc->state_dir);
    if (store_open(&lc->store, b.data, err))
        goto fail;
    if (flags & CLI_LOCAL_CAS) {
        buf_reset(&b);
        buf_addf(&b, "%s/cas", lc->state_dir);
        if (cas_open(&lc->cas, b.data, err))
            goto fail;
    }
    buf_release(&b);
    return 0;
fail:
    buf_release(&b);
    cli_local_close(lc);
    return -1;
}

void cli_local_close(struct cli_local *lc)
{
    if (lc->store)
        store_close(lc->store);
    if (lc->cas)
        cas_close(lc->cas);
    free(lc->repo);
    free(lc->state_dir);
    memset(lc, 0, sizeof(*lc));
}

void cli_format_duration(int64_t ms, struct buf *out)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1000)
        buf_addf(out, "%lldms", (long long)ms);
    else if (ms < 60000)
        buf_addf(out, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        buf_addf(out, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    else
        buf_addf(out, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}
