#include "engine/runexec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/duration.h"
#include "core/mask.h"
#include "core/secret.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define STATUS_MAX 4096

struct art {
    char *path;
    char digest[CAS_DIGEST_LEN + 1];
    int64_t size;
    int mode;
};

enum phase { PH_IDLE, PH_PREPARING, PH_RUNNING, PH_COLLECTING, PH_DONE };

struct rjob {
    struct runexec *rx;
    size_t idx;
    int64_t job_id, attempt_id;
    int attempt;
    enum phase phase;
    char *ws_dir, *home_dir, *tmp_dir, *log_path;
    char *cwd; /* where the job runs: ws_dir, or its subdirectory cfg.subdir */
    bool ws_kept;
    int log_fd;        /* the attempt's log, once it has something to hold */
    bool log_created;  /* this attempt's log file exists */
    struct mask *mask; /* the attempt's log masker when the run has secrets, or NULL */
    bool fatal;        /* error is a failure no retry changes (a secret not set) */
    /* the leader process (started with posix_spawn) and its pipes; the end
     * of the status pipe is the leader's exit (see on_status) */
    pid_t pid;
    uv_pipe_t out, status;
    uv_timer_t timer, backstop;
    int open_handles;
    bool spawned, exited, out_eof, status_eof;
    int64_t exit_status;
    int term_signal;
    struct buf status_line;
    bool timed_out, cancelled;
    /* result */
    char *error; /* why the attempt failed outside the command, or NULL */
    int exit_code;
    int64_t t_start, t_end; /* monotonic ms */
    int64_t wall_start;
    struct art *arts;
    size_t narts;
    /* a work item in flight */
    uv_work_t work;
};

/* A job's state change, reported to the observer once it is committed. */
struct event {
    size_t job;
    enum job_state state;
    int attempt;
    char *reason;
    int64_t duration_ms;
};

/* An empty directory left by an attempt, renamed into place for the next one. */
struct spare {
    char *path;
    mode_t mode;
};

struct runexec {
    uv_loop_t *loop;
    struct runexec_config cfg;
    struct runexec_secret *secrets; /* cfg.secrets, copied */
    struct mask_set *mask;          /* their values' forms, or NULL when none has a value */
    struct sched *sched;
    struct rjob *jobs; /* one per pipeline job */
    int64_t run_id, run_number;
    char *leader_exe; /* flywheel-leader next to self_exe, or NULL: self_exe __leader */
    char *log_dir, *work_dir;
    bool log_dir_made;   /* log_dir is there (or could not be made: said once) */
    char *work_dir_real; /* work_dir without symbolic links, or NULL */
    size_t in_flight;    /* work items not yet back */
    /* handles not yet closed and directories not yet removed: the run's
     * end waits for none of them, its on_done for all */
    size_t closing;
    bool done, cancel_requested, hard_cancel;
    struct buf cancel_reason;
    /*
     * Batching: every entry point (a libuv callback or an API call) runs
     * between enter() and leave(). The store writes made meanwhile go into
     * one transaction, committed by the outermost leave(); only then are the
     * effects released: the observer's events, the jobs' processes and the
     * end of the run (persist, then act).
     */
    int depth;
    bool tx_open, flushing, done_pending, pump_pending;
    bool end_told; /* on_end was called */
    enum sched_result done_result;
    struct event *events;
    size_t nevents, aevents;
    size_t *to_spawn;
    size_t nspawn, aspawn;
    /* Directories of ended attempts, kept as spares or removed after the
     * spawns: off the path from one job's end to the next one's start. */
    struct recycle {
        char *paths[3];
    } * recycle;
    size_t nrecycle, arecycle;
    /* Empty directories of ended attempts, for the next ones (see make_dir). */
    struct spare *spares;
    size_t nspares, aspares;
    mode_t ws_mode;      /* what mkdir(0777) gives a workspace here; 0 until known */
    bool spares_tainted; /* a leader was killed or died: give no spares to the pool */
    uid_t euid;
    /* Programs looked up in PATH for plain commands: "PATH\0word\0" -> found. */
    struct found {
        char *key;
        size_t len;
        bool found;
    } * found;
    size_t nfound, afound;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- batches ------------------------------------------------------------ */

static void spawn_job(struct rjob *j);
static void attempt_end(struct rjob *j, enum job_event ev);
static void pump(struct runexec *rx);

static void enter(struct runexec *rx)
{
    rx->depth++;
}

static void recycle_dirs(struct runexec *rx, char *const paths[3]);
static void maybe_done(struct runexec *rx);

/* Before a store write: joins the batch of the current entry point. */
static void tx(struct runexec *rx)
{
    if (rx->depth <= 0 || rx->tx_open || store_in_batch(rx->cfg.store))
        return; /* outside an entry point, or in the batch already open */
    struct buf err = BUF_INIT;
    if (store_batch_begin(rx->cfg.store, &err) == 0)
        rx->tx_open = true;
    else /* the writes go on one by one: slower, as durable */
        fprintf(stderr, "flywheel: %s\n", err.data);
    buf_release(&err);
}

static void commit(struct runexec *rx)
{
    if (!rx->tx_open)
        return;
    rx->tx_open = false;
    struct buf err = BUF_INIT;
    if (store_batch_commit(rx->cfg.store, &err))
        fprintf(stderr, "flywheel: recording the run: %s\n", err.data);
    buf_release(&err);
}

/* Keeps or removes the directories of the attempts that ended (see
 * remove_workspace), then ends the run if that was all it waited for. */
static void recycle_pending(struct runexec *rx)
{
    struct recycle *rc = rx->recycle;
    size_t n = rx->nrecycle;
    rx->recycle = NULL;
    rx->nrecycle = rx->arecycle = 0;
    rx->depth++;
    for (size_t k = 0; k < n; k++) {
        recycle_dirs(rx, rc[k].paths);
        for (int d = 0; d < 3; d++)
            free(rc[k].paths[d]);
    }
    free(rc);
    rx->depth--;
}

/*
 * Commits, then releases what waited for the commit: the processes of
 * prepared jobs, the observer's events (the run's end last, on_end), this
 * run's own pump when a shared pool is in use (see attempt_end), and the
 * release of the run (on_done, once nothing is held). The directories
 * of ended attempts are no effect anyone sees, and nothing waits for them:
 * they are dealt with after the events, before this run's own pump (whose
 * next jobs may take them). What these do in turn (a spawn that fails ends
 * its attempt) makes a new batch, committed before its own effects, until
 * nothing is left. An observer may call back into runexec meanwhile: that
 * call queues, and this loop releases it.
 */
static void tell_end(struct runexec *rx)
{
    rx->end_told = true;
    if (rx->cfg.obs.on_end)
        rx->cfg.obs.on_end(rx->cfg.obs.ctx, rx->done_result);
}

static void flush(struct runexec *rx)
{
    rx->flushing = true;
    for (;;) {
        commit(rx);
        /* The processes first: they wait for nothing else. */
        if (rx->nspawn) {
            size_t *sp = rx->to_spawn;
            size_t n = rx->nspawn;
            rx->to_spawn = NULL;
            rx->nspawn = rx->aspawn = 0;
            rx->depth++;
            for (size_t k = 0; k < n; k++) {
                struct rjob *j = &rx->jobs[sp[k]];
                if (j->cancelled)
                    attempt_end(j, JOB_EV_CANCEL);
                else
                    spawn_job(j);
            }
            rx->depth--;
            free(sp);
            continue;
        }
        if (rx->nevents) {
            struct event *ev = rx->events;
            size_t n = rx->nevents;
            rx->events = NULL;
            rx->nevents = rx->aevents = 0;
            for (size_t k = 0; k < n; k++) {
                if (rx->cfg.obs.on_state)
                    rx->cfg.obs.on_state(rx->cfg.obs.ctx, ev[k].job, ev[k].state, ev[k].attempt,
                                         ev[k].reason, ev[k].duration_ms);
                free(ev[k].reason);
            }
            free(ev);
            continue;
        }
        if (rx->done && !rx->end_told) {
            /* Nothing since the commit: the run's end is in the store. */
            tell_end(rx);
            continue;
        }
        if (rx->nrecycle) {
            /* Then the directories of the attempts that ended (see recycle). */
            recycle_pending(rx);
            continue;
        }
        if (rx->pump_pending) {
            rx->pump_pending = false;
            rx->depth++;
            pump(rx);
            rx->depth--;
            continue;
        }
        break;
    }
    rx->flushing = false;
    if (rx->done_pending && !rx->closing) {
        /* Last: the observer may free the run from here on. */
        rx->done_pending = false;
        if (!rx->end_told)
            tell_end(rx);
        if (rx->cfg.obs.on_done)
            rx->cfg.obs.on_done(rx->cfg.obs.ctx, rx->done_result);
    }
}

static void leave(struct runexec *rx)
{
    if (--rx->depth == 0 && !rx->flushing)
        flush(rx);
}

/* ---- store -------------------------------------------------------------- */

static void save_job(struct runexec *rx, size_t i)
{
    struct rjob *j = &rx->jobs[i];
    struct store_job sj = {0};
    struct buf err = BUF_INIT;
    sj.id = j->job_id;
    sj.run_id = rx->run_id;
    sj.name = (char *)rx->cfg.pipeline->jobs[i].name;
    sj.state = (char *)job_state_name(sched_state(rx->sched, i));
    sj.reason = (char *)sched_reason(rx->sched, i);
    sj.attempts = sched_attempts(rx->sched, i);
    sj.exit_code = j->exit_code;
    sj.started_ms = j->wall_start;
    sj.finished_ms = job_state_done(sched_state(rx->sched, i)) ? store_now_ms() : 0;
    tx(rx);
    if (store_job_update(rx->cfg.store, &sj, &err))
        fprintf(stderr, "flywheel: recording job '%s': %s\n", sj.name, err.data);
    buf_release(&err);
}

/* Records job i's state and queues its event, released after the commit. */
static void notify(struct runexec *rx, size_t i)
{
    struct rjob *j = &rx->jobs[i];
    save_job(rx, i);
    if (rx->cfg.obs.on_state) {
        int64_t d = j->t_start ? (j->t_end ? j->t_end : mono_ms()) - j->t_start : 0;
        ALLOC_GROW(rx->events, rx->nevents + 1, rx->aevents);
        struct event *ev = &rx->events[rx->nevents++];
        ev->job = i;
        ev->state = sched_state(rx->sched, i);
        ev->attempt = sched_attempts(rx->sched, i);
        ev->reason = xstrdup(sched_reason(rx->sched, i));
        ev->duration_ms = d;
    }
    if (rx->depth == 0 && !rx->flushing)
        flush(rx);
}

/* Reports the jobs whose state changed without running (skipped, cancelled). */
static void notify_settled(struct runexec *rx)
{
    for (size_t i = 0; i < rx->cfg.pipeline->njobs; i++) {
        struct rjob *j = &rx->jobs[i];
        if (!sched_selected(rx->sched, i) || j->phase == PH_DONE)
            continue;
        enum job_state s = sched_state(rx->sched, i);
        /* skipped, cancelled, or failed when an adopted run's interrupted attempt
         * was its last */
        if (job_state_done(s) && j->phase == PH_IDLE) {
            j->phase = PH_DONE;
            notify(rx, i);
        }
    }
}

/* ---- paths -------------------------------------------------------------- */

static char *safe_name(const char *name)
{
    struct buf b = BUF_INIT;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("_.,=+-[]", c);
        buf_addch(&b, ok ? c : '_');
    }
    return buf_detach(&b, NULL);
}

static void job_paths(struct runexec *rx, size_t i)
{
    struct rjob *j = &rx->jobs[i];
    char *sn = safe_name(rx->cfg.pipeline->jobs[i].name);
    struct buf b = BUF_INIT;
    free(j->ws_dir);
    free(j->home_dir);
    free(j->tmp_dir);
    free(j->log_path);
    buf_addf(&b, "%s/%zu-%s.%d", rx->work_dir, i, sn, j->attempt);
    j->ws_dir = xstrdup(b.data);
    free(j->cwd);
    if (rx->cfg.subdir && *rx->cfg.subdir) {
        struct buf c = BUF_INIT;
        buf_addf(&c, "%s/%s", j->ws_dir, rx->cfg.subdir);
        j->cwd = buf_detach(&c, NULL);
    } else {
        j->cwd = xstrdup(j->ws_dir);
    }
    buf_adds(&b, ".home");
    j->home_dir = xstrdup(b.data);
    buf_reset(&b);
    buf_addf(&b, "%s/%zu-%s.%d.tmp", rx->work_dir, i, sn, j->attempt);
    j->tmp_dir = xstrdup(b.data);
    buf_reset(&b);
    buf_addf(&b, "%s/%s.%d.log", rx->log_dir, sn, j->attempt);
    j->log_path = buf_detach(&b, NULL);
    free(sn);
}

static int mkdir_p(const char *path, struct buf *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0; /* the parents are there: the common case, one call */
    struct buf b = BUF_INIT;
    buf_adds(&b, path);
    for (char *p = b.data + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(b.data, 0755) && errno != EEXIST) {
            buf_addf(err, "mkdir %s: %s", b.data, strerror(errno));
            buf_release(&b);
            return -1;
        }
        *p = '/';
    }
    if (mkdir(b.data, 0755) && errno != EEXIST) {
        buf_addf(err, "mkdir %s: %s", b.data, strerror(errno));
        buf_release(&b);
        return -1;
    }
    buf_release(&b);
    return 0;
}

/*
 * Attempt directories: the workspace of a job without checkout, HOME and
 * TMPDIR are empty directories. Creating one is an inode allocation, and
 * removing it frees one, which some file systems make slow to allocate again
 * (ext4 without a journal scans past the inodes freed in the last minute).
 * So an ended attempt's directory that is still empty (most are) is kept,
 * and the next attempt's directory is that one renamed: no inode is freed or
 * allocated per job. The spares left at the end of the run are removed.
 */
/*
 * True when path is a directory of euid's, empty, with a mode we create
 * (0755, or ws_mode when not 0); *mode gets it.
 */
static bool dir_reusable_as(uid_t euid, mode_t ws_mode, const char *path, mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    mode_t m = 0;
    bool ok = !fstat(fd, &st) && S_ISDIR(st.st_mode) && st.st_uid == euid &&
              ((m = st.st_mode & 07777) == 0755 || (ws_mode && m == ws_mode));
    if (ok) {
        char d[1024];
        ssize_t n = getdents64(fd, d, sizeof(d));
        ok = n > 0;
        for (ssize_t off = 0; ok && off < n;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(d + off);
            ok = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
            off += e->d_reclen;
        }
        /* and nothing after them (a file system may return fewer entries
         * than fit) */
        ok = ok && getdents64(fd, d, sizeof(d)) == 0;
    }
    close(fd);
    if (ok)
        *mode = m;
    return ok;
}

static bool dir_reusable(const struct runexec *rx, const char *path, mode_t *mode)
{
    return dir_reusable_as(rx->euid, rx->ws_mode, path, mode);
}

static void spare_add(struct runexec *rx, const char *path, mode_t mode)
{
    ALLOC_GROW(rx->spares, rx->nspares + 1, rx->aspares);
    rx->spares[rx->nspares].path = xstrdup(path);
    rx->spares[rx->nspares].mode = mode;
    rx->nspares++;
}

/*
 * Across runs (a server, spare_pool): the spares left at a run's end are
 * moved to STATE/work/.spares (out of the run's directory, which retention
 * removes later) and their paths kept, up to SPARE_POOL of them, under the
 * pool's name (the repository: one repository's jobs never get another's
 * directories). One is taken only if it is still an empty directory of ours
 * (dir_reusable again: the other jobs of its run went on after its own
 * ended, and could have written into it); one that is gone is dropped. A
 * run in which a job's leader was killed (a hard cancel, the backstop) or
 * died gives nothing: its job's processes may have outlived it, with a
 * directory as their working directory. What a previous process left in
 * .spares is removed when the pool is first used.
 */
#define SPARE_POOL 32
struct pooled {
    char *path, *key;
    mode_t mode;
};
static struct {
    pthread_mutex_t mu;
    struct pooled v[SPARE_POOL];
    size_t n;
    unsigned long made; /* names .spares/PID-N */
    bool swept;         /* .spares emptied of a previous process's leftovers */
    bool dir_made;      /* .spares is there (made, or found) */
    mode_t ws_mode;     /* as runexec.ws_mode, for the runs to come */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Moves one of key's spares of mode want to path; 0, or -1 (none fits). Any thread. */
static int pool_take_key(const char *key, uid_t euid, mode_t ws_mode, const char *path, mode_t want)
{
    for (;;) {
        struct pooled sp = {NULL, NULL, 0};
        pthread_mutex_lock(&pool.mu);
        for (size_t k = pool.n; k-- > 0;) {
            if (pool.v[k].mode == want && !strcmp(pool.v[k].key, key)) {
                sp = pool.v[k];
                pool.v[k] = pool.v[--pool.n];
                break;
            }
        }
        pthread_mutex_unlock(&pool.mu);
        if (!sp.path)
            return -1;
        mode_t mode;
        int rc = -1;
        if (dir_reusable_as(euid, ws_mode, sp.path, &mode) && mode == want)
            rc = renameat2(AT_FDCWD, sp.path, AT_FDCWD, path, RENAME_NOREPLACE);
        bool exists = rc && errno == EEXIST;
        if (exists) {
            /* path is there already: the spare goes back, for another */
            pthread_mutex_lock(&pool.mu);
            if (pool.n < SPARE_POOL) {
                pool.v[pool.n++] = sp;
                sp.path = sp.key = NULL;
            }
            pthread_mutex_unlock(&pool.mu);
        }
        if (sp.path && rc)
            rmdir(sp.path); /* not ours to keep any more, or no room for it */
        free(sp.path);
        free(sp.key);
        if (!rc)
            return 0;
        if (exists)
            return -1; /* let mkdir say it */
    }
}

static int pool_take(struct runexec *rx, const char *path, mode_t want)
{
    return pool_take_key(rx->cfg.spare_pool, rx->euid, rx->ws_mode, path, want);
}

int runexec_spare_dir(const char *pool_name, const char *path)
{
    return pool_take_key(pool_name, geteuid(), 0, path, 0755);
}

/* The run's spares to the pool (moved under .spares); returns how many. */
static size_t pool_give(struct runexec *rx)
{
    size_t k = 0;
    struct buf dir = BUF_INIT, to = BUF_INIT;
    buf_addf(&dir, "%s/work/.spares", rx->cfg.state_dir);
    pthread_mutex_lock(&pool.mu);
    if (rx->ws_mode)
        pool.ws_mode = rx->ws_mode;
    if (!pool.swept) {
        struct buf err = BUF_INIT;
        pool.swept = true;
        if (ws_remove(dir.data, &err))
            fprintf(stderr, "flywheel: %s\n", err.data);
        buf_release(&err);
    }
    /* nowhere to keep them: none is given, the caller removes them */
    if (!pool.dir_made)
        pool.dir_made = !mkdir(dir.data, 0700) || errno == EEXIST;
    for (; pool.dir_made && k < rx->nspares && pool.n < SPARE_POOL; k++) {
        buf_reset(&to);
        buf_addf(&to, "%s/%ld-%lu", dir.data, (long)getpid(), ++pool.made);
        if (rename(rx->spares[k].path, to.data)) {
            pool.dir_made = errno != ENOENT; /* made again next time */
            break;
        }
        free(rx->spares[k].path);
        pool.v[pool.n].path = buf_detach(&to, NULL);
        pool.v[pool.n].key = xstrdup(rx->cfg.spare_pool);
        pool.v[pool.n].mode = rx->spares[k].mode;
        pool.n++;
    }
    pthread_mutex_unlock(&pool.mu);
    buf_release(&dir);
    buf_release(&to);
    return k;
}

static void spares_remove(struct runexec *rx)
{
    size_t given = rx->cfg.spare_pool && !rx->spares_tainted ? pool_give(rx) : 0;
    for (size_t k = given; k < rx->nspares; k++) {
        if (rmdir(rx->spares[k].path) && errno != ENOENT) {
            /* a job's process wrote into it after its end: remove it all */
            struct buf err = BUF_INIT;
            if (ws_remove(rx->spares[k].path, &err))
                fprintf(stderr, "flywheel: %s\n", err.data);
            buf_release(&err);
        }
        free(rx->spares[k].path);
    }
    free(rx->spares);
    rx->spares = NULL;
    rx->nspares = rx->aspares = 0;
    /* The run's own work directory, when nothing was kept in it, serves
     * the next run's (see runexec_spare_dir). */
    mode_t mode;
    if (rx->cfg.spare_pool && !rx->spares_tainted && rx->work_dir &&
        dir_reusable(rx, rx->work_dir, &mode) && mode == 0755) {
        spare_add(rx, rx->work_dir, mode);
        if (!pool_give(rx))
            free(rx->spares[0].path); /* not kept: retention removes it */
        free(rx->spares);
        rx->spares = NULL;
        rx->nspares = rx->aspares = 0;
    }
}

/*
 * Creates the empty directory path (which must not exist; its parent does)
 * with mode (0777 for a workspace, as ws_create makes it, else 0755), from a
 * spare when one fits.
 */
static int make_dir(struct runexec *rx, const char *path, bool ws, struct buf *err)
{
    mode_t want = ws ? rx->ws_mode : 0755;
    for (size_t k = rx->nspares; want && k-- > 0;) {
        if (rx->spares[k].mode != want)
            continue;
        int rc = renameat2(AT_FDCWD, rx->spares[k].path, AT_FDCWD, path, RENAME_NOREPLACE);
        if (rc && errno == EEXIST)
            break; /* let mkdir say it */
        if (rc)
            rmdir(rx->spares[k].path);
        free(rx->spares[k].path);
        rx->spares[k] = rx->spares[--rx->nspares];
        if (!rc)
            return 0;
    }
    if (ws && !want && rx->cfg.spare_pool) {
        pthread_mutex_lock(&pool.mu);
        want = rx->ws_mode = pool.ws_mode;
        pthread_mutex_unlock(&pool.mu);
    }
    if (want && rx->cfg.spare_pool && pool_take(rx, path, want) == 0)
        return 0;
    if (mkdir(path, ws ? 0777 : 0755)) {
        if (errno != ENOENT || mkdir_p(path, err)) {
            if (!err->len)
                buf_addf(err, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (ws && !rx->ws_mode) {
        struct stat st;
        if (!stat(path, &st))
            rx->ws_mode = st.st_mode & 07777;
    }
    return 0;
}

/* ---- forward declarations ----------------------------------------------- */

static void pump(struct runexec *rx);
static void attempt_end(struct rjob *j, enum job_event ev);
static void maybe_done(struct runexec *rx);

/* ---- prepare (thread pool) ---------------------------------------------- */

static void prepare_work(uv_work_t *w)
{
    struct rjob *j = w->data;
    struct runexec *rx = j->rx;
    const struct pl_job *pj = &rx->cfg.pipeline->jobs[j->idx];
    struct buf err = BUF_INIT;

    if (ws_create(rx->cfg.source, j->ws_dir, pj->checkout, &err))
        goto out;
    if (mkdir_p(j->home_dir, &err) || mkdir_p(j->tmp_dir, &err))
        goto out;
    /* The artifacts of the jobs it needs, at the same paths. */
    for (size_t k = 0; k < pj->nneed; k++) {
        struct rjob *need = &rx->jobs[pj->need_idx[k]];
        for (size_t a = 0; a < need->narts; a++) {
            struct buf dest = BUF_INIT;
            buf_addf(&dest, "%s/%s", j->cwd, need->arts[a].path);
            int rc = cas_get_file(rx->cfg.cas, need->arts[a].digest, dest.data, need->arts[a].mode,
                                  &err);
            buf_release(&dest);
            if (rc) {
                buf_addf(&err, " (artifact '%s' of '%s')", need->arts[a].path,
                         rx->cfg.pipeline->jobs[need->idx].name);
                goto out;
            }
        }
    }
out:
    if (err.len)
        j->error = buf_detach(&err, NULL);
    buf_release(&err);
}

/* The job's process starts after the commit of its "running". */
static void queue_spawn(struct rjob *j)
{
    struct runexec *rx = j->rx;
    ALLOC_GROW(rx->to_spawn, rx->nspawn + 1, rx->aspawn);
    rx->to_spawn[rx->nspawn++] = j->idx;
}

static void prepare_done(uv_work_t *w, int status)
{
    struct rjob *j = w->data;
    struct runexec *rx = j->rx;
    enter(rx);
    rx->in_flight--;
    (void)status;
    if (j->cancelled)
        attempt_end(j, JOB_EV_CANCEL);
    else if (j->error)
        attempt_end(j, JOB_EV_FAIL);
    else
        queue_spawn(j);
    leave(rx);
}

/*
 * A job without checkout whose needs left no artifacts needs three empty
 * directories and nothing else: made here, on the loop, without a trip
 * through the thread pool. Returns false when the job needs more.
 */
static bool prepare_inline(struct runexec *rx, struct rjob *j)
{
    const struct pl_job *pj = &rx->cfg.pipeline->jobs[j->idx];
    if (pj->checkout)
        return false;
    for (size_t k = 0; k < pj->nneed; k++)
        if (rx->jobs[pj->need_idx[k]].narts)
            return false;
    struct buf err = BUF_INIT;
    if (make_dir(rx, j->ws_dir, true, &err) || make_dir(rx, j->home_dir, false, &err) ||
        make_dir(rx, j->tmp_dir, false, &err)) {
        j->error = buf_detach(&err, NULL);
        attempt_end(j, JOB_EV_FAIL);
    } else {
        queue_spawn(j);
    }
    buf_release(&err);
    return true;
}

/* ---- collect artifacts (thread pool) ------------------------------------ */

/*
 * What one job may keep (an attempt over either fails, naming the limit,
 * and nothing of it is stored). Documented in docs/pipeline.md.
 */
#define ARTIFACT_MAX_FILES 10000
#define ARTIFACT_MAX_BYTES (10LL << 30) /* 10 GiB */

/* "1.5 GiB", "12.0 MiB", "512 bytes": sizes in the limit messages. */
static void add_size(struct buf *b, int64_t n)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        buf_addf(b, "%lld bytes", (long long)n);
    else
        buf_addf(b, "%.1f %s", v, unit[u]);
}

static void free_arts(struct art *arts, size_t n)
{
    for (size_t a = 0; a < n; a++)
        free(arts[a].path);
    free(arts);
}

/*
 * Resolves every pattern, checks the whole set against the limits, and
 * only then stores the files: a job over a limit stores nothing. The
 * attempt's artifacts replace j->arts when all are stored.
 */
static void collect_work(uv_work_t *w)
{
    struct rjob *j = w->data;
    struct runexec *rx = j->rx;
    const struct pl_job *pj = &rx->cfg.pipeline->jobs[j->idx];
    struct buf err = BUF_INIT, list = BUF_INIT, full = BUF_INIT;
    struct strmap seen = STRMAP_INIT;
    struct art *arts = NULL;
    char **reals = NULL;
    size_t narts = 0, nreals = 0, alloc = 0, ralloc = 0, biggest = 0;
    int64_t total = 0;
    char *root = realpath(j->cwd, NULL);

    if (!root) {
        buf_addf(&err, "workspace '%s': %s", j->cwd, strerror(errno));
        goto out;
    }
    for (size_t k = 0; k < pj->artifacts.n; k++) {
        size_t n = 0;
        buf_reset(&list);
        if (ws_artifact_resolve(j->cwd, pj->artifacts.v[k].s, &list, &n, &err))
            goto out;
        const char *p = list.data;
        for (size_t q = 0; q < n; q++, p += strlen(p) + 1) {
            size_t rl = strlen(root), dummy;
            struct stat st;
            if (strmap_get(&seen, p, &dummy))
                continue;
            ALLOC_GROW(arts, narts + 1, alloc);
            ALLOC_GROW(reals, narts + 1, ralloc);
            struct art *a = &arts[narts];
            memset(a, 0, sizeof(*a));
            a->path = xstrdup(p);
            reals[nreals++] = NULL;
            narts++;
            strmap_put(&seen, a->path, 0);
            if (narts > ARTIFACT_MAX_FILES)
                continue; /* counted, not examined */
            /* ws_artifact_resolve has checked where links lead: store the file itself */
            buf_reset(&full);
            buf_addf(&full, "%s/%s", j->cwd, p);
            char *real = realpath(full.data, NULL);
            if (!real || stat(real, &st)) {
                buf_addf(&err, "artifact '%s': %s", p, strerror(errno));
                free(real);
                goto out;
            }
            reals[narts - 1] = real;
            if (strncmp(real, root, rl) || real[rl] != '/') {
                buf_addf(&err, "artifact '%s' leads outside the workspace (to '%s')", p, real);
                goto out;
            }
            a->mode = (int)(st.st_mode & 0777);
            a->size = st.st_size;
            total += st.st_size;
            if (a->size > arts[biggest].size)
                biggest = narts - 1;
        }
    }
    if (narts > ARTIFACT_MAX_FILES) {
        buf_addf(&err, "artifacts: %zu files, over the limit of %d per job; nothing was stored",
                 narts, ARTIFACT_MAX_FILES);
        goto out;
    }
    if (total > ARTIFACT_MAX_BYTES) {
        buf_adds(&err, "artifacts: ");
        add_size(&err, total);
        buf_addf(&err, " (%lld bytes), over the limit of ", (long long)total);
        add_size(&err, ARTIFACT_MAX_BYTES);
        buf_addf(&err, " per job; nothing was stored (the largest: '%s', ", arts[biggest].path);
        add_size(&err, arts[biggest].size);
        buf_adds(&err, ")");
        goto out;
    }
    for (size_t a = 0; a < narts; a++) {
        if (cas_put_file(rx->cfg.cas, reals[a], arts[a].digest, &arts[a].size, &err)) {
            buf_addf(&err, " (artifact '%s')", arts[a].path);
            goto out;
        }
    }
    free_arts(j->arts, j->narts);
    j->arts = arts;
    j->narts = narts;
    arts = NULL;
    narts = 0;
out:
    if (err.len)
        j->error = buf_detach(&err, NULL);
    for (size_t a = 0; a < nreals; a++)
        free(reals[a]);
    free(reals);
    free_arts(arts, narts);
    free(root);
    strmap_release(&seen);
    buf_release(&err);
    buf_release(&list);
    buf_release(&full);
}

static void collect_done(uv_work_t *w, int status)
{
    struct rjob *j = w->data;
    struct runexec *rx = j->rx;
    (void)status;
    enter(rx);
    rx->in_flight--;
    if (j->error) {
        attempt_end(j, JOB_EV_FAIL);
        leave(rx);
        return;
    }
    struct buf err = BUF_INIT;
    tx(rx);
    for (size_t a = 0; a < j->narts; a++) {
        struct store_artifact sa = {0};
        sa.job_id = j->job_id;
        sa.path = j->arts[a].path;
        sa.digest = j->arts[a].digest;
        sa.size = j->arts[a].size;
        sa.mode = j->arts[a].mode;
        if (store_artifact_insert(rx->cfg.store, &sa, &err) < 0) {
            fprintf(stderr, "flywheel: recording artifact: %s\n", err.data);
            buf_reset(&err);
        }
    }
    buf_release(&err);
    attempt_end(j, j->cancelled ? JOB_EV_CANCEL : JOB_EV_PASS);
    leave(rx);
}

/* ---- removal (thread pool) ---------------------------------------------- */

struct removal {
    uv_work_t work;
    struct runexec *rx;
    char *paths[3];
};

static void remove_work(uv_work_t *w)
{
    struct removal *r = w->data;
    for (int k = 0; k < 3; k++) {
        struct buf err = BUF_INIT;
        if (r->paths[k] && ws_remove(r->paths[k], &err))
            fprintf(stderr, "flywheel: %s\n", err.data);
        buf_release(&err);
    }
}

static void remove_done(uv_work_t *w, int status)
{
    struct removal *r = w->data;
    (void)status;
    r->rx->closing--;
    for (int k = 0; k < 3; k++)
        free(r->paths[k]);
    struct runexec *rx = r->rx;
    free(r);
    enter(rx);
    maybe_done(rx);
    leave(rx);
}

/* Keeps each of paths (NULL: none) that is an empty directory as a spare,
 * and removes the others on the thread pool. */
static void recycle_dirs(struct runexec *rx, char *const paths[3])
{
    struct removal *r = xcalloc(1, sizeof(*r));
    bool any = false;
    r->rx = rx;
    r->work.data = r;
    for (int k = 0; k < 3; k++) {
        mode_t mode;
        if (!paths[k])
            continue;
        if (dir_reusable(rx, paths[k], &mode)) {
            spare_add(rx, paths[k], mode);
        } else {
            r->paths[k] = xstrdup(paths[k]);
            any = true;
        }
    }
    if (!any) {
        free(r);
        return;
    }
    /* The run's end does not wait for the removal; its release does. */
    rx->closing++;
    if (uv_queue_work(rx->loop, &r->work, remove_work, remove_done)) {
        rx->closing--;
        for (int k = 0; k < 3; k++)
            free(r->paths[k]);
        free(r);
    }
}

/* The attempt's directories (its workspace unless kept) go after the spawns. */
static void remove_workspace(struct rjob *j, bool keep_ws)
{
    struct runexec *rx = j->rx;
    j->ws_kept = keep_ws;
    ALLOC_GROW(rx->recycle, rx->nrecycle + 1, rx->arecycle);
    struct recycle *rc = &rx->recycle[rx->nrecycle++];
    rc->paths[0] = keep_ws ? NULL : xstrdup(j->ws_dir);
    rc->paths[1] = xstrdup(j->home_dir);
    rc->paths[2] = xstrdup(j->tmp_dir);
    if (rx->depth == 0 && !rx->flushing)
        flush(rx);
}

/* ---- processes ---------------------------------------------------------- */

/*
 * Makes the run's log directory, at its first byte of output (cfg.log_spare):
 * the spare renamed there if it is there, else a new one. A failure is left
 * to the log file's open to report.
 */
static void log_dir_make(struct runexec *rx)
{
    rx->log_dir_made = true;
    if (!rx->cfg.log_spare ||
        renameat2(AT_FDCWD, rx->cfg.log_spare, AT_FDCWD, rx->log_dir, RENAME_NOREPLACE)) {
        struct buf err = BUF_INIT;
        (void)mkdir_p(rx->log_dir, &err);
        buf_release(&err);
    }
    if (rx->cfg.obs.on_log_dir)
        rx->cfg.obs.on_log_dir(rx->cfg.obs.ctx);
}

static void log_raw(void *ctx, const char *data, size_t len)
{
    struct rjob *j = ctx;
    struct runexec *rx = j->rx;
    if (j->log_fd < 0 && len) {
        if (!rx->log_dir_made)
            log_dir_make(rx);
        /*
         * Created with its first byte: a job that prints nothing leaves no
         * file (readers take a missing log for an empty one), which saves an
         * inode per silent job. Truncated if it was there before the attempt.
         */
        j->log_fd =
            open(j->log_path,
                 O_WRONLY | O_CREAT | O_CLOEXEC | (j->log_created ? O_APPEND : O_TRUNC), 0644);
        if (j->log_fd >= 0)
            j->log_created = true;
        else if (!j->log_created) {
            j->log_created = true; /* say it once */
            fprintf(stderr, "flywheel: cannot write the log %s: %s\n", j->log_path,
                    strerror(errno));
        }
    }
    if (j->log_fd >= 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(j->log_fd, data + off, len - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                break; /* a full disk loses log bytes, never the job */
            }
            off += (size_t)w;
        }
    }
    if (rx->cfg.obs.on_output)
        rx->cfg.obs.on_output(rx->cfg.obs.ctx, j->idx, data, len);
}

/* Bytes for the attempt's log: through the masker when the run has secrets. */
static void log_write(struct rjob *j, const char *data, size_t len)
{
    if (j->mask)
        mask_feed(j->mask, data, len, log_raw, j);
    else
        log_raw(j, data, len);
}

/* What the masker holds back, out: before the log is closed. */
static void log_flush(struct rjob *j)
{
    if (j->mask)
        mask_flush(j->mask, log_raw, j);
}

static void log_close(struct rjob *j)
{
    log_flush(j);
    if (j->log_fd >= 0) {
        close(j->log_fd);
        j->log_fd = -1;
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rjob *j = h->data;
    struct runexec *rx = j->rx;
    enter(rx);
    j->open_handles--;
    rx->closing--;
    leave(rx); /* the last one lets on_done through */
}

static void close_handle(struct rjob *j, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = j;
        uv_close(h, on_handle_closed);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    static char slab[65536]; /* the loop is single-threaded; data is consumed at once */
    (void)suggested;
    b->base = slab;
    b->len = sizeof(slab);
}

static void attempt_exit_checked(struct rjob *j);

static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct rjob *j = s->data;
    if (n > 0) {
        log_write(j, b->base, (size_t)n);
        return;
    }
    if (n < 0) {
        struct runexec *rx = j->rx;
        enter(rx);
        uv_read_stop(s);
        j->out_eof = true;
        close_handle(j, (uv_handle_t *)s);
        attempt_exit_checked(j);
        leave(rx);
    }
}

/* The leader has ended: reap it. */
static void leader_reaped(struct rjob *j, int wstatus)
{
    j->exited = true;
    if (WIFEXITED(wstatus))
        j->exit_status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        j->term_signal = WTERMSIG(wstatus);
    uv_timer_stop(&j->timer);
    uv_timer_stop(&j->backstop);
    close_handle(j, (uv_handle_t *)&j->timer);
    close_handle(j, (uv_handle_t *)&j->backstop);
}

static bool leader_wait(struct rjob *j, int flags)
{
    int st;
    pid_t r;
    do
        r = waitpid(j->pid, &st, flags);
    while (r < 0 && errno == EINTR);
    if (r == j->pid) {
        leader_reaped(j, st);
        return true;
    }
    if (r < 0) {
        /* Not ours any more (someone reaped it): it has ended all the same. */
        leader_reaped(j, 0);
        return true;
    }
    return false;
}

static void on_status(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct rjob *j = s->data;
    if (n > 0) {
        if (j->status_line.len + (size_t)n <= STATUS_MAX)
            buf_add(&j->status_line, b->base, (size_t)n);
        return;
    }
    if (n < 0) {
        struct runexec *rx = j->rx;
        enter(rx);
        uv_read_stop(s);
        j->status_eof = true;
        close_handle(j, (uv_handle_t *)s);
        /*
         * The leader holds the status pipe until it exits, and nothing else
         * does (it is close-on-exec there): its end is the leader's exit,
         * and the wait is over at once. (Cheaper than watching a pidfd: one
         * descriptor and one wake-up less per job.)
         */
        if (!j->exited)
            leader_wait(j, 0);
        attempt_exit_checked(j);
        leave(rx);
    }
}

static void signal_leader(struct rjob *j, int sig, bool group)
{
    if (!j->spawned || j->exited)
        return; /* not reaped yet: the pid is still the leader's */
    kill(group ? -j->pid : j->pid, sig);
}

static void on_backstop(uv_timer_t *t)
{
    struct rjob *j = t->data;
    /* The leader did not end in time: kill its whole session's group. */
    j->rx->spares_tainted = true;
    signal_leader(j, SIGKILL, true);
}

static void stop_process(struct rjob *j, bool hard)
{
    if (!j->spawned || j->exited)
        return;
    if (hard)
        j->rx->spares_tainted = true;
    signal_leader(j, hard ? SIGKILL : SIGTERM, false);
    if (hard)
        signal_leader(j, SIGKILL, true);
    else
        uv_timer_start(&j->backstop, on_backstop, (uint64_t)j->rx->cfg.grace_ms + 2000, 0);
}

static void on_timeout(uv_timer_t *t)
{
    struct rjob *j = t->data;
    j->timed_out = true;
    struct buf msg = BUF_INIT;
    struct buf d = BUF_INIT;
    duration_format(j->rx->cfg.pipeline->jobs[j->idx].timeout_ms, &d);
    buf_addf(&msg, "\nflywheel: the job timed out after %s; stopping it\n", d.data);
    log_write(j, msg.data, msg.len);
    buf_release(&msg);
    buf_release(&d);
    stop_process(j, false);
}

static void add_env(char ***envp, size_t *n, size_t *alloc, const char *k, const char *v)
{
    size_t klen = strlen(k);
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s=%s", k, v);
    for (size_t i = 0; i < *n; i++) {
        if (!strncmp((*envp)[i], k, klen) && (*envp)[i][klen] == '=') {
            free((*envp)[i]);
            (*envp)[i] = buf_detach(&b, NULL);
            return;
        }
    }
    ALLOC_GROW(*envp, *n + 2, *alloc);
    (*envp)[(*n)++] = buf_detach(&b, NULL);
    (*envp)[*n] = NULL;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++) {
        explicit_bzero(*p, strlen(*p)); /* an environment may hold secrets */
        free(*p);
    }
    free(v);
}

static const struct runexec_secret *find_secret(const struct runexec *rx, const char *name)
{
    for (size_t k = 0; k < rx->cfg.nsecrets; k++)
        if (!strcmp(rx->secrets[k].name, name))
            return &rx->secrets[k];
    return NULL;
}

static const char *env_get(char **env, const char *k)
{
    size_t klen = strlen(k);
    for (char **p = env; p && *p; p++)
        if (!strncmp(*p, k, klen) && (*p)[klen] == '=')
            return *p + klen + 1;
    return NULL;
}

static char **job_env(struct rjob *j, bool sandbox)
{
    struct runexec *rx = j->rx;
    const struct pipeline *p = rx->cfg.pipeline;
    const struct pl_job *pj = &p->jobs[j->idx];
    char **env = NULL;
    size_t n = 0, alloc = 0;
    char num[32];

    add_env(&env, &n, &alloc, "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    add_env(&env, &n, &alloc, "HOME", sandbox ? "/tmp/home" : j->home_dir);
    add_env(&env, &n, &alloc, "TMPDIR", sandbox ? "/tmp" : j->tmp_dir);
    add_env(&env, &n, &alloc, "LANG", "C.UTF-8");
    for (size_t k = 0; k < p->env.n; k++)
        add_env(&env, &n, &alloc, p->env.v[k].key, p->env.v[k].value);
    for (size_t k = 0; k < pj->env.n; k++)
        add_env(&env, &n, &alloc, pj->env.v[k].key, pj->env.v[k].value);
    add_env(&env, &n, &alloc, "CI", "true");
    add_env(&env, &n, &alloc, "FLYWHEEL", "true");
    snprintf(num, sizeof(num), "%lld", (long long)rx->run_id);
    add_env(&env, &n, &alloc, "FLYWHEEL_RUN", num);
    add_env(&env, &n, &alloc, "FLYWHEEL_RUN_KIND", rx->cfg.kind);
    add_env(&env, &n, &alloc, "FLYWHEEL_JOB", pj->name);
    snprintf(num, sizeof(num), "%d", j->attempt);
    add_env(&env, &n, &alloc, "FLYWHEEL_ATTEMPT", num);
    add_env(&env, &n, &alloc, "FLYWHEEL_COMMIT", rx->cfg.source->commit);
    add_env(&env, &n, &alloc, "FLYWHEEL_BRANCH", rx->cfg.source->branch);
    add_env(&env, &n, &alloc, "FLYWHEEL_WORKSPACE", j->cwd);
    /* The secrets it names, last: the pipeline's checks keep them apart from the rest. */
    for (size_t k = 0; !rx->cfg.untrusted && k < pj->secrets.n; k++) {
        const struct runexec_secret *sec = find_secret(rx, pj->secrets.v[k].s);
        if (sec && sec->value)
            add_env(&env, &n, &alloc, sec->name, sec->value);
    }
    return env;
}

static void argv_add(char ***v, size_t *n, size_t *alloc, const char *s)
{
    ALLOC_GROW(*v, *n + 2, *alloc);
    (*v)[(*n)++] = xstrdup(s);
    (*v)[*n] = NULL;
}

/*
 * A command the shell would only look up in PATH and run: one line of plain
 * words (no quoting, expansion, redirection, operator or assignment) whose
 * first word is neither a reserved word nor a builtin of sh, and names an
 * executable file (a binary or a #! script) found in the job's PATH. Such a
 * command is run by the leader directly, without `/bin/sh -e -c` in
 * between: the same program, arguments, environment and exit status (the
 * leader reports a death by signal as sh would, 128 + the signal), one
 * process less. Splits it into words in *words (a NUL-separated list).
 */
static bool plain_command(const struct pl_job *pj, struct buf *words, size_t *nwords)
{
    static const char *const shell_words[] = {
        /* reserved words */
        "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
        "in", "function", "select",
        /* builtins of dash (and bash), which may behave differently from the
         * program of the same name, except true and false */
        "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval", "exec",
        "exit", "export", "fc", "fg", "getopts", "hash", "jobs", "kill", "local", "printf", "pwd",
        "read", "readonly", "return", "set", "shift", "test", "times", "trap", "type", "ulimit",
        "umask", "unalias", "unset", "wait", "source", "let", "declare", "typeset", "builtin",
        "enable", "help", "logout", "mapfile", "popd", "pushd", "dirs", "disown", "shopt",
        "suspend", "caller", "compgen", "complete", "coproc", "history", "readarray", "time"};
    if (pj->run.n != 1)
        return false;
    const char *s = pj->run.v[0].s;
    buf_reset(words);
    *nwords = 0;
    for (const char *p = s; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t l = 0;
        for (; p[l] && p[l] != ' '; l++) {
            unsigned char c = (unsigned char)p[l];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("_-+./,:@%", c);
            /* '=' is plain after the first word (an assignment before it) */
            if (!ok && !(c == '=' && *nwords > 0))
                return false;
        }
        buf_add(words, p, l);
        buf_addch(words, '\0');
        (*nwords)++;
        p += l;
    }
    if (!*nwords || strchr(words->data, '/'))
        return false; /* a path is fine for sh, but not worth a special case */
    for (size_t k = 0; k < sizeof(shell_words) / sizeof(shell_words[0]); k++)
        if (!strcmp(words->data, shell_words[k]))
            return false;
    return true;
}

/*
 * True when word names, in the directories of path as sh searches them, an
 * executable regular file that is a binary or a #! script. Remembered for
 * the run: the same lookups come back for every job.
 */
static bool program_found(struct runexec *rx, const char *path, const char *word)
{
    struct buf key = BUF_INIT;
    buf_adds(&key, path ? path : "");
    buf_addch(&key, '\0');
    buf_adds(&key, word);
    for (size_t k = 0; k < rx->nfound; k++) {
        if (rx->found[k].len == key.len && !memcmp(rx->found[k].key, key.data, key.len)) {
            buf_release(&key);
            return rx->found[k].found;
        }
    }
    bool found = false;
    struct buf f = BUF_INIT;
    while (path && *path && !found) {
        size_t l = strcspn(path, ":");
        buf_reset(&f);
        if (!l || path[0] != '/')
            break; /* an empty or relative entry searches the job's directory: sh's business */
        buf_add(&f, path, l);
        buf_addch(&f, '/');
        buf_adds(&f, word);
        struct stat st;
        if (stat(f.data, &st) == 0) {
            if (!S_ISREG(st.st_mode) || access(f.data, X_OK))
                break; /* sh would say why; so it does */
            int fd = open(f.data, O_RDONLY | O_CLOEXEC);
            char magic[4] = {0};
            if (fd >= 0) {
                ssize_t r = read(fd, magic, sizeof(magic));
                close(fd);
                found = (r == 4 && !memcmp(magic, "\177ELF", 4)) ||
                        (r >= 2 && magic[0] == '#' && magic[1] == '!');
            }
            break;
        }
        path += l;
        if (*path == ':')
            path++;
    }
    buf_release(&f);
    ALLOC_GROW(rx->found, rx->nfound + 1, rx->afound);
    rx->found[rx->nfound].len = key.len;
    rx->found[rx->nfound].key = buf_detach(&key, NULL);
    rx->found[rx->nfound].found = found;
    rx->nfound++;
    return found;
}

/* The leader's command line; words (nwords of them) for a plain command, else NULL. */
static char **job_argv(struct rjob *j, bool sandbox, bool network, const char *words, size_t nwords)
{
    struct runexec *rx = j->rx;
    const struct pl_job *pj = &rx->cfg.pipeline->jobs[j->idx];
    char **v = NULL;
    size_t n = 0, alloc = 0;
    char num[32];

    if (rx->leader_exe) {
        argv_add(&v, &n, &alloc, rx->leader_exe);
    } else {
        argv_add(&v, &n, &alloc, rx->cfg.self_exe);
        argv_add(&v, &n, &alloc, "__leader");
    }
    argv_add(&v, &n, &alloc, "--grace");
    snprintf(num, sizeof(num), "%ld", rx->cfg.grace_ms);
    argv_add(&v, &n, &alloc, num);
    argv_add(&v, &n, &alloc, "--status-fd");
    argv_add(&v, &n, &alloc, "3");
    if (words) {
        argv_add(&v, &n, &alloc, "--shell-status");
        argv_add(&v, &n, &alloc, "--");
        for (size_t k = 0; k < nwords; k++, words += strlen(words) + 1)
            argv_add(&v, &n, &alloc, words);
        return v;
    }
    argv_add(&v, &n, &alloc, "--");
    if (sandbox) {
        static const char *const fixed[] = {
            "bwrap",
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--dir",
            "/tmp/home",
        };
        for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
            argv_add(&v, &n, &alloc, fixed[k]);
        if (!network)
            argv_add(&v, &n, &alloc, "--unshare-net");
        argv_add(&v, &n, &alloc, "--bind");
        argv_add(&v, &n, &alloc, j->ws_dir);
        argv_add(&v, &n, &alloc, j->ws_dir);
        argv_add(&v, &n, &alloc, "--chdir");
        argv_add(&v, &n, &alloc, j->cwd);
        argv_add(&v, &n, &alloc, "--");
    }
    argv_add(&v, &n, &alloc, "/bin/sh");
    argv_add(&v, &n, &alloc, "-e");
    argv_add(&v, &n, &alloc, "-c");
    struct buf script = BUF_INIT;
    for (size_t k = 0; k < pj->run.n; k++)
        buf_addf(&script, "%s\n", pj->run.v[k].s);
    argv_add(&v, &n, &alloc, script.data);
    buf_release(&script);
    return v;
}

/* fd, moved to 4 or above, close-on-exec (so that the dup2s to 1, 2 and 3 of
 * posix_spawn cannot overwrite one another). */
static int high_fd(int fd)
{
    if (fd > 3)
        return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 4);
    close(fd);
    return h;
}

/*
 * Starts the leader with posix_spawn (a vfork: nothing of this process's
 * memory is copied, however large it is) in a session of its own, stdin
 * from /dev/null, out on 1 and 2, the status pipe on 3, signals as a new
 * program expects them. Returns 0 or an errno value.
 */
static int start_leader(struct rjob *j, char **argv, char **env, int out_w, int st_w)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)))
        return rc;
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigfillset(&all);
    sigemptyset(&none);
    if (!(rc = posix_spawn_file_actions_addchdir_np(&fa, j->cwd)) &&
        !(rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
        !(rc = posix_spawn_file_actions_adddup2(&fa, out_w, 1)) &&
        !(rc = posix_spawn_file_actions_adddup2(&fa, out_w, 2)) &&
        !(rc = posix_spawn_file_actions_adddup2(&fa, st_w, 3)) &&
        !(rc = posix_spawnattr_setsigdefault(&attr, &all)) &&
        !(rc = posix_spawnattr_setsigmask(&attr, &none)) &&
        !(rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
                                                   POSIX_SPAWN_SETSIGMASK)))
        rc = posix_spawn(&j->pid, argv[0], &fa, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static void spawn_job(struct rjob *j)
{
    struct runexec *rx = j->rx;
    const struct pl_job *pj = &rx->cfg.pipeline->jobs[j->idx];
    int outp[2] = {-1, -1}, stp[2] = {-1, -1};
    struct buf err = BUF_INIT;
    bool sandbox = rx->cfg.isolation == RUNEXEC_ISO_JOB ? pj->isolation == PL_ISO_SANDBOX
                                                        : rx->cfg.isolation == PL_ISO_SANDBOX;
    char **argv = NULL, **env = NULL;

    if (pipe2(outp, O_CLOEXEC) || pipe2(stp, O_CLOEXEC)) {
        buf_addf(&err, "pipe: %s", strerror(errno));
        goto fail;
    }
    outp[1] = high_fd(outp[1]);
    stp[1] = high_fd(stp[1]);
    if (outp[1] < 0 || stp[1] < 0) {
        buf_addf(&err, "pipe: %s", strerror(errno));
        goto fail;
    }
    env = job_env(j, sandbox);
    {
        struct buf words = BUF_INIT;
        size_t nwords = 0;
        bool plain = !sandbox && rx->work_dir_real && plain_command(pj, &words, &nwords) &&
                     program_found(rx, env_get(env, "PATH"), words.data);
        if (plain) {
            /* What sh would have exported: the directory, as getcwd() says it. */
            struct buf pwd = BUF_INIT;
            char **e = env;
            size_t n = 0, alloc = 0;
            while (e[n])
                n++;
            alloc = n + 1;
            buf_adds(&pwd, rx->work_dir_real);
            buf_adds(&pwd, j->cwd + strlen(rx->work_dir));
            add_env(&env, &n, &alloc, "PWD", pwd.data);
            buf_release(&pwd);
        }
        bool network = !rx->cfg.no_network && (rx->cfg.with_network || pj->network);
        argv = job_argv(j, sandbox, network, plain ? words.data : NULL, nwords);
        buf_release(&words);
    }

    int rc = start_leader(j, argv, env, outp[1], stp[1]);
    close(outp[1]);
    close(stp[1]);
    outp[1] = stp[1] = -1;
    if (rc) {
        buf_addf(&err, "cannot start the job: %s", uv_strerror(-rc));
        goto fail;
    }
    j->spawned = true;
    j->phase = PH_RUNNING;
    uv_pipe_init(rx->loop, &j->out, 0);
    uv_pipe_init(rx->loop, &j->status, 0);
    uv_timer_init(rx->loop, &j->timer);
    uv_timer_init(rx->loop, &j->backstop);
    j->out.data = j->status.data = j->timer.data = j->backstop.data = j;
    j->open_handles += 4;
    rx->closing += 4;
    uv_pipe_open(&j->out, outp[0]);
    uv_pipe_open(&j->status, stp[0]);
    uv_read_start((uv_stream_t *)&j->out, alloc_cb, on_out);
    uv_read_start((uv_stream_t *)&j->status, alloc_cb, on_status);
    uv_timer_start(&j->timer, on_timeout, (uint64_t)pj->timeout_ms, 0);
    if (j->cancelled)
        stop_process(j, rx->hard_cancel);
    free_strv(argv);
    free_strv(env);
    return;
fail:
    for (int k = 0; k < 2; k++) {
        if (outp[k] >= 0)
            close(outp[k]);
        if (stp[k] >= 0)
            close(stp[k]);
    }
    free_strv(argv);
    free_strv(env);
    j->error = buf_detach(&err, NULL);
    attempt_end(j, JOB_EV_FAIL);
}

static void attempt_exit_checked(struct rjob *j)
{
    if (!j->exited || !j->out_eof || !j->status_eof || j->phase != PH_RUNNING)
        return;
    struct runexec *rx = j->rx;
    const char *s = j->status_line.data;
    int v;
    j->exit_code = -1;
    if (sscanf(s, "exit %d", &v) == 1) {
        j->exit_code = v;
    } else if (sscanf(s, "signal %d", &v) == 1) {
        j->term_signal = v;
    } else if (!strncmp(s, "error ", 6)) {
        size_t l = strcspn(s + 6, "\n");
        j->error = xmemdupz(s + 6, l);
    } else if (!j->error) {
        /* The leader itself died (killed by the backstop, or crashed). */
        struct buf b = BUF_INIT;
        rx->spares_tainted = true;
        if (j->term_signal)
            buf_addf(&b, "the job's leader was killed by signal %d", j->term_signal);
        else
            buf_addf(&b, "the job's leader exited with status %lld", (long long)j->exit_status);
        j->error = buf_detach(&b, NULL);
    }
    log_close(j);
    if (j->cancelled) {
        attempt_end(j, JOB_EV_CANCEL);
        return;
    }
    if (j->timed_out) {
        attempt_end(j, JOB_EV_TIME_OUT);
        return;
    }
    if (j->exit_code != 0 || j->error) {
        attempt_end(j, JOB_EV_FAIL);
        return;
    }
    if (!rx->cfg.pipeline->jobs[j->idx].artifacts.n) {
        attempt_end(j, JOB_EV_PASS);
        return;
    }
    j->phase = PH_COLLECTING;
    j->work.data = j;
    rx->in_flight++;
    if (uv_queue_work(rx->loop, &j->work, collect_work, collect_done)) {
        rx->in_flight--;
        j->error = xstrdup("cannot queue the collection of artifacts");
        attempt_end(j, JOB_EV_FAIL);
    }
}

/* ---- attempts ----------------------------------------------------------- */

static void save_attempt(struct rjob *j, const char *state)
{
    struct runexec *rx = j->rx;
    struct store_attempt a = {0};
    struct buf err = BUF_INIT;
    a.id = j->attempt_id;
    a.job_id = j->job_id;
    a.number = j->attempt;
    a.state = (char *)state;
    a.exit_code = j->exit_code;
    a.signal = j->term_signal;
    a.log_path = j->log_path;
    a.workspace = j->ws_dir;
    a.started_ms = j->wall_start;
    a.finished_ms = strcmp(state, "running") ? store_now_ms() : 0;
    tx(rx);
    if (j->attempt_id)
        store_attempt_update(rx->cfg.store, &a, &err);
    else
        j->attempt_id = store_attempt_insert(rx->cfg.store, &a, &err);
    if (err.len)
        fprintf(stderr, "flywheel: recording attempt: %s\n", err.data);
    buf_release(&err);
}

/*
 * Before anything is prepared: a job that names a secret without a value
 * fails now, for good; in an untrusted run its log says which it goes
 * without. Returns true when the attempt has ended.
 */
static bool check_secrets(struct runexec *rx, struct rjob *j)
{
    const struct pl_strs *names = &rx->cfg.pipeline->jobs[j->idx].secrets;
    if (!names->n)
        return false;
    if (rx->cfg.untrusted) {
        struct buf m = BUF_INIT;
        buf_adds(&m, "flywheel: this run is of a change from another repository (a fork): it "
                     "gets no secrets; the job runs without");
        for (size_t k = 0; k < names->n; k++)
            buf_addf(&m, "%s %s", k ? "," : "", names->v[k].s);
        buf_addch(&m, '\n');
        log_write(j, m.data, m.len);
        buf_release(&m);
        return false;
    }
    for (size_t k = 0; k < names->n; k++) {
        const struct runexec_secret *sec = find_secret(rx, names->v[k].s);
        if (sec && sec->value)
            continue;
        struct buf m = BUF_INIT;
        if (sec && sec->error)
            buf_adds(&m, sec->error);
        else
            buf_addf(&m, "secret '%s' is not available to this run", names->v[k].s);
        j->error = buf_detach(&m, NULL);
        j->fatal = true;
        attempt_end(j, JOB_EV_FAIL);
        return true;
    }
    return false;
}

static void attempt_begin(struct runexec *rx, size_t i)
{
    struct rjob *j = &rx->jobs[i];
    j->attempt = sched_attempts(rx->sched, i);
    j->attempt_id = 0;
    j->phase = PH_PREPARING;
    j->spawned = j->exited = j->out_eof = j->status_eof = false;
    j->timed_out = false;
    j->exit_code = -1;
    j->term_signal = 0;
    j->exit_status = 0;
    free(j->error);
    j->error = NULL;
    /* Artifacts are those of the attempt that passes: none from an earlier one. */
    for (size_t a = 0; a < j->narts; a++)
        free(j->arts[a].path);
    j->narts = 0;
    buf_reset(&j->status_line);
    j->log_fd = -1;
    j->log_created = false;
    j->t_start = mono_ms();
    j->t_end = 0;
    if (!j->wall_start)
        j->wall_start = store_now_ms();
    job_paths(rx, i);
    save_attempt(j, "running");
    notify(rx, i);
    if (rx->mask)
        j->mask = mask_new(rx->mask);
    if (check_secrets(rx, j))
        return;
    if (prepare_inline(rx, j))
        return;
    j->work.data = j;
    rx->in_flight++;
    if (uv_queue_work(rx->loop, &j->work, prepare_work, prepare_done)) {
        rx->in_flight--;
        j->error = xstrdup("cannot queue the workspace preparation");
        attempt_end(j, JOB_EV_FAIL);
    }
}

static void attempt_end(struct rjob *j, enum job_event ev)
{
    struct runexec *rx = j->rx;
    size_t i = j->idx;
    j->t_end = mono_ms();
    if (j->error) {
        /* Say it in the log too: the log is where people look. */
        struct buf m = BUF_INIT;
        buf_addf(&m, "flywheel: %s\n", j->error);
        log_write(j, m.data, m.len);
        buf_release(&m);
    }
    log_close(j);
    mask_free(j->mask);
    j->mask = NULL;
    static const char *const attempt_state[] = {
        [JOB_EV_PASS] = "passed",
        [JOB_EV_FAIL] = "failed",
        [JOB_EV_TIME_OUT] = "timed-out",
        [JOB_EV_CANCEL] = "cancelled",
    };
    save_attempt(j, attempt_state[ev]);
    if (j->fatal && ev == JOB_EV_FAIL)
        sched_fail(rx->sched, i, j->error);
    else
        sched_finish(rx->sched, i, ev);
    j->fatal = false;
    if (rx->cfg.obs.on_job_end && job_state_done(sched_state(rx->sched, i)))
        rx->cfg.obs.on_job_end(rx->cfg.obs.ctx, i, sched_state(rx->sched, i),
                               j->t_end - j->t_start);
    if (rx->cfg.pool_give)
        rx->cfg.pool_give(rx->cfg.pool_ctx);
    if (ev != JOB_EV_PASS && j->error && !sched_retrying(rx->sched, i)) {
        /* Keep the reason: sched only knows the state. */
    }
    bool failed = ev == JOB_EV_FAIL || ev == JOB_EV_TIME_OUT;
    /* Failed workspaces stay for inspection, unless the run is being cancelled. */
    bool keep_ws = rx->cfg.keep || (failed && !rx->cancel_requested);
    if (keep_ws && access(j->ws_dir, F_OK))
        keep_ws = false; /* it failed before there was one (a secret not set) */
    remove_workspace(j, keep_ws);
    j->phase = sched_state(rx->sched, i) == JOB_QUEUED ? PH_IDLE : PH_DONE;
    notify(rx, i);
    if (sched_cancelling(rx->sched) && !rx->cancel_requested) {
        /* --fail-fast: stop the others too */
        runexec_cancel(rx, sched_reason(rx->sched, i));
    }
    notify_settled(rx);
    if (rx->cfg.pool_take) {
        /*
         * A shared pool: the slot given back goes first to whoever the
         * observer pumps when it hears of this end (the server: the oldest
         * runs first), then to this run, as when events were not deferred.
         */
        rx->pump_pending = true;
        maybe_done(rx);
    } else {
        pump(rx);
    }
}

/* ---- driving ------------------------------------------------------------ */

static void pump(struct runexec *rx)
{
    if (rx->done)
        return;
    long i;
    while (sched_running(rx->sched) < (size_t)rx->cfg.slots) {
        if (rx->cfg.pool_take && !rx->cfg.pool_take(rx->cfg.pool_ctx))
            break;
        if ((i = sched_next(rx->sched)) < 0) {
            if (rx->cfg.pool_give)
                rx->cfg.pool_give(rx->cfg.pool_ctx);
            break;
        }
        attempt_begin(rx, (size_t)i);
    }
    notify_settled(rx);
    maybe_done(rx);
}

static void maybe_done(struct runexec *rx)
{
    if (rx->done || !sched_done(rx->sched) || rx->in_flight)
        return;
    rx->done = true;
    enum sched_result r = sched_result(rx->sched);
    struct store_run run = {0};
    struct buf err = BUF_INIT;
    tx(rx);
    if (store_run_get(rx->cfg.store, rx->run_id, &run, &err) == 0) {
        store_run_set_state(rx->cfg.store, run.id, sched_result_name(r), run.started_ms,
                            store_now_ms(), &err);
        store_run_release(&run);
    }
    if (err.len)
        fprintf(stderr, "flywheel: recording the run: %s\n", err.data);
    buf_release(&err);
    rx->done_pending = true;
    rx->done_result = r;
    if (rx->depth == 0 && !rx->flushing)
        flush(rx);
}

/*
 * Takes over job i of an adopted run from what the store says about it: a
 * passed job keeps its result and artifacts; an attempt that was running when
 * flywheel stopped is recorded as interrupted and counts as a failed attempt.
 */
static int adopt_job(struct runexec *rx, size_t i, struct buf *err)
{
    struct rjob *j = &rx->jobs[i];
    struct store_job sj = {0};
    struct store_attempt *atts = NULL;
    struct store_artifact *arts = NULL;
    size_t natts = 0, narts = 0;
    int rc = store_job_find(rx->cfg.store, rx->run_id, rx->cfg.pipeline->jobs[i].name, &sj, err);
    if (rc == -ENOENT) {
        buf_reset(err);
        return 0;
    }
    if (rc)
        return -1;
    j->job_id = sj.id;
    j->wall_start = sj.started_ms;
    int st = job_state_parse(sj.state);
    if (store_attempt_list(rx->cfg.store, sj.id, &atts, &natts, err))
        goto fail;
    for (size_t k = 0; k < natts; k++) {
        if (strcmp(atts[k].state, "running"))
            continue;
        free(atts[k].state);
        atts[k].state = xstrdup("interrupted");
        atts[k].finished_ms = store_now_ms();
        tx(rx);
        if (store_attempt_update(rx->cfg.store, &atts[k], err))
            goto fail;
    }
    if (st == JOB_PASSED) {
        if (store_artifact_list(rx->cfg.store, sj.id, &arts, &narts, err))
            goto fail;
        j->arts = xcalloc(narts + 1, sizeof(*j->arts));
        for (size_t k = 0; k < narts; k++) {
            j->arts[k].path = xstrdup(arts[k].path);
            snprintf(j->arts[k].digest, sizeof(j->arts[k].digest), "%s", arts[k].digest);
            j->arts[k].size = arts[k].size;
            j->arts[k].mode = arts[k].mode;
        }
        j->narts = narts;
        j->phase = PH_DONE;
        sched_restore(rx->sched, i, JOB_PASSED, sj.attempts, sj.retry_base, "");
    } else if (st == JOB_FAILED || st == JOB_TIMED_OUT || st == JOB_SKIPPED ||
               st == JOB_CANCELLED) {
        j->phase = PH_DONE;
        sched_restore(rx->sched, i, (enum job_state)st, sj.attempts, sj.retry_base, sj.reason);
    } else if (sj.attempts > sj.retry_base) {
        sched_restore(rx->sched, i, JOB_QUEUED, sj.attempts, sj.retry_base,
                      "interrupted: flywheel stopped while the job ran");
        if (job_state_done(sched_state(rx->sched, i)))
            j->phase = PH_IDLE; /* reported by notify_settled */
    } else if (sj.attempts > 0) {
        /* rerun, and waiting for its first attempt since */
        sched_restore(rx->sched, i, JOB_QUEUED, sj.attempts, sj.retry_base, sj.reason);
    }
    store_job_release(&sj);
    store_attempts_release(atts, natts);
    store_artifacts_release(arts, narts);
    return 0;
fail:
    store_job_release(&sj);
    store_attempts_release(atts, natts);
    store_artifacts_release(arts, narts);
    return -1;
}

/*
 * STATE/work/ID without symbolic links: that of STATE/work, found once
 * for the last STATE, and ID (a directory just made). NULL if there is none
 * (looked for again next time).
 */
static char *work_dir_real(const char *state_dir, int64_t id)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char *state, *real;
    char *ret = NULL;
    pthread_mutex_lock(&mu);
    if (!state || !real || strcmp(state, state_dir)) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s/work", state_dir);
        free(state);
        free(real);
        state = xstrdup(state_dir);
        real = realpath(b.data, NULL);
        buf_release(&b);
    }
    if (real) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s/%lld", real, (long long)id);
        ret = buf_detach(&b, NULL);
    }
    pthread_mutex_unlock(&mu);
    return ret;
}

int runexec_start(struct runexec **out, uv_loop_t *loop, const struct runexec_config *cfg,
                  struct buf *err)
{
    struct runexec *rx = xcalloc(1, sizeof(*rx));
    const struct pipeline *p = cfg->pipeline;
    struct store_run run = {0};

    rx->loop = loop;
    rx->cfg = *cfg;
    if (rx->cfg.slots < 1)
        rx->cfg.slots = 1;
    if (rx->cfg.grace_ms <= 0)
        rx->cfg.grace_ms = 5000;
    buf_init(&rx->cancel_reason, 0);
    {
        /* The small leader program, when it is installed beside this one. */
        struct buf lp = BUF_INIT;
        const char *slash = strrchr(cfg->self_exe, '/');
        if (slash) {
            buf_add(&lp, cfg->self_exe, (size_t)(slash - cfg->self_exe + 1));
            buf_adds(&lp, "flywheel-leader");
            if (access(lp.data, X_OK) == 0)
                rx->leader_exe = buf_detach(&lp, NULL);
        }
        buf_release(&lp);
    }
    rx->euid = geteuid();
    if (cfg->untrusted)
        rx->cfg.nsecrets = 0; /* never given: nothing to mask either */
    rx->secrets = xcalloc(rx->cfg.nsecrets + 1, sizeof(*rx->secrets));
    for (size_t k = 0; k < rx->cfg.nsecrets; k++) {
        const struct runexec_secret *from = &cfg->secrets[k];
        struct runexec_secret *to = &rx->secrets[k];
        to->name = xstrdup(from->name);
        to->error = from->error ? xstrdup(from->error) : NULL;
        if (from->value) {
            to->value = xmemdupz(from->value, from->len);
            to->len = from->len;
            if (!rx->mask)
                rx->mask = mask_set_new();
            if (secret_mask_add(rx->mask, from->value, from->len)) {
                buf_addf(err,
                         "the secrets given to this run are too large to be masked in its logs "
                         "(over %u MiB with their encoded forms)",
                         MASK_MAX_BYTES >> 20);
                runexec_free(rx);
                *out = NULL;
                return -1;
            }
        }
    }
    rx->cfg.secrets = rx->secrets;
    rx->sched = sched_new(p, cfg->selected, cfg->sched_flags);
    rx->jobs = xcalloc(p->njobs + 1, sizeof(*rx->jobs));
    enter(rx);
    tx(rx);

    if (cfg->adopt_run_id) {
        if (store_run_get(cfg->store, cfg->adopt_run_id, &run, err))
            goto fail;
        rx->run_id = run.id;
        rx->run_number = run.number ? run.number : run.id;
        if (!run.started_ms)
            run.started_ms = store_now_ms();
        int urc = store_run_set_state(cfg->store, run.id, "running", run.started_ms,
                                      run.finished_ms, err);
        store_run_release(&run);
        if (urc)
            goto fail;
    } else {
        run.kind = (char *)cfg->kind;
        run.source = (char *)(cfg->source->commit[0] ? cfg->source->commit : "");
        run.commit = cfg->source->commit;
        run.branch = cfg->source->branch;
        run.state = "running";
        run.created_ms = run.started_ms = store_now_ms();
        if (cfg->run_fields) {
            run.repo_id = cfg->run_fields->repo_id;
            run.ref = cfg->run_fields->ref;
            run.trigger = cfg->run_fields->trigger;
            run.retry_of = cfg->run_fields->retry_of;
        }
        rx->run_id = store_run_insert(cfg->store, &run, err);
        if (rx->run_id <= 0)
            goto fail;
        rx->run_number = run.number ? run.number : rx->run_id;
    }

    struct buf b = BUF_INIT;
    buf_addf(&b, "%s/logs/%lld", cfg->state_dir, (long long)rx->run_id);
    rx->log_dir = buf_detach(&b, NULL);
    buf_addf(&b, "%s/work/%lld", cfg->state_dir, (long long)rx->run_id);
    rx->work_dir = buf_detach(&b, NULL);
    if ((!cfg->log_spare && mkdir_p(rx->log_dir, err)) || mkdir_p(rx->work_dir, err))
        goto fail;
    rx->log_dir_made = !cfg->log_spare;
    rx->work_dir_real = work_dir_real(cfg->state_dir, rx->run_id);

    for (size_t i = 0; i < p->njobs; i++) {
        struct rjob *j = &rx->jobs[i];
        j->rx = rx;
        j->idx = i;
        j->log_fd = -1;
        j->exit_code = -1;
        buf_init(&j->status_line, STATUS_MAX);
        if (!sched_selected(rx->sched, i))
            continue;
        if (cfg->adopt_run_id && adopt_job(rx, i, err))
            goto fail;
        if (!j->job_id)
            j->job_id = store_job_insert(cfg->store, rx->run_id, p->jobs[i].name, err);
        if (j->job_id <= 0)
            goto fail;
    }
    *out = rx;
    pump(rx);
    leave(rx);
    return 0;
fail:
    commit(rx); /* what was recorded stays, as each write did before batches */
    runexec_free(rx);
    *out = NULL;
    return -1;
}

void runexec_cancel(struct runexec *rx, const char *reason)
{
    if (rx->cancel_requested)
        rx->hard_cancel = true;
    rx->cancel_requested = true;
    enter(rx);
    if (!sched_cancelling(rx->sched))
        sched_cancel_all(rx->sched, reason);
    for (size_t i = 0; i < rx->cfg.pipeline->njobs; i++) {
        struct rjob *j = &rx->jobs[i];
        if (j->phase == PH_PREPARING || j->phase == PH_RUNNING || j->phase == PH_COLLECTING) {
            j->cancelled = true;
            if (j->phase == PH_RUNNING)
                stop_process(j, rx->hard_cancel);
        }
    }
    notify_settled(rx);
    maybe_done(rx);
    leave(rx);
}

int runexec_cancel_job(struct runexec *rx, const char *name, const char *reason)
{
    for (size_t i = 0; i < rx->cfg.pipeline->njobs; i++) {
        if (strcmp(rx->cfg.pipeline->jobs[i].name, name) || !sched_selected(rx->sched, i))
            continue;
        struct rjob *j = &rx->jobs[i];
        if (sched_state(rx->sched, i) == JOB_QUEUED) {
            enter(rx);
            sched_cancel_job(rx->sched, i, reason);
            notify_settled(rx);
            pump(rx);
            leave(rx);
            return 0;
        }
        if (j->phase == PH_PREPARING || j->phase == PH_RUNNING || j->phase == PH_COLLECTING) {
            j->cancelled = true;
            if (j->phase == PH_RUNNING)
                stop_process(j, false);
            return 0;
        }
        return -EALREADY;
    }
    return -ENOENT;
}

int runexec_rerun(struct runexec *rx, const char *name, const char *reason, struct buf *names,
                  struct buf *err)
{
    const struct pipeline *p = rx->cfg.pipeline;
    long target = -1;
    if (name) {
        for (size_t i = 0; i < p->njobs && target < 0; i++)
            if (!strcmp(p->jobs[i].name, name) && sched_selected(rx->sched, i))
                target = (long)i;
        if (target < 0) {
            buf_addf(err, "run %lld has no job '%s'", (long long)rx->run_id, name);
            return -ENOENT;
        }
    }
    bool *set = xcalloc(p->njobs + 1, sizeof(bool));
    int64_t *ids = xcalloc(p->njobs + 1, sizeof(int64_t));
    size_t n = 0;
    int rc = sched_rerun_plan(rx->sched, target, set, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < p->njobs; i++)
        if (set[i])
            ids[n++] = rx->jobs[i].job_id;
    if (store_run_rerun(rx->cfg.store, rx->run_id, ids, n, reason, err)) {
        rc = -EIO;
        goto out;
    }
    sched_rerun(rx->sched, set, reason);
    for (size_t i = 0; i < p->njobs; i++) {
        struct rjob *j = &rx->jobs[i];
        if (!set[i])
            continue;
        /* Its next attempt starts afresh: new artifacts, new times. */
        for (size_t a = 0; a < j->narts; a++)
            free(j->arts[a].path);
        j->narts = 0;
        j->phase = PH_IDLE;
        j->cancelled = j->timed_out = false;
        j->exit_code = -1;
        j->wall_start = 0;
        j->t_start = j->t_end = 0;
        buf_addf(names, "%s\n", p->jobs[i].name);
    }
    for (size_t i = 0; i < p->njobs; i++)
        if (set[i])
            notify(rx, i);
    pump(rx);
out:
    free(set);
    free(ids);
    return rc;
}

void runexec_free(struct runexec *rx)
{
    if (!rx)
        return;
    for (size_t i = 0; rx->jobs && i < rx->cfg.pipeline->njobs; i++) {
        struct rjob *j = &rx->jobs[i];
        free(j->ws_dir);
        free(j->cwd);
        free(j->home_dir);
        free(j->tmp_dir);
        free(j->log_path);
        free(j->error);
        buf_release(&j->status_line);
        for (size_t a = 0; a < j->narts; a++)
            free(j->arts[a].path);
        free(j->arts);
        if (j->log_fd >= 0)
            close(j->log_fd);
        mask_free(j->mask);
    }
    free(rx->jobs);
    for (size_t k = 0; rx->secrets && k < rx->cfg.nsecrets; k++) {
        free((char *)rx->secrets[k].name);
        free((char *)rx->secrets[k].error);
        if (rx->secrets[k].value)
            explicit_bzero((char *)rx->secrets[k].value, rx->secrets[k].len);
        free((char *)rx->secrets[k].value);
    }
    free(rx->secrets);
    mask_set_free(rx->mask);
    for (size_t k = 0; k < rx->nevents; k++)
        free(rx->events[k].reason);
    free(rx->events);
    free(rx->to_spawn);
    for (size_t k = 0; k < rx->nrecycle; k++)
        for (int d = 0; d < 3; d++)
            free(rx->recycle[k].paths[d]);
    free(rx->recycle);
    spares_remove(rx);
    sched_free(rx->sched);
    free(rx->log_dir);
    free(rx->work_dir);
    free(rx->work_dir_real);
    for (size_t k = 0; k < rx->nfound; k++)
        free(rx->found[k].key);
    free(rx->found);
    free(rx->leader_exe);
    buf_release(&rx->cancel_reason);
    free(rx);
}

void runexec_pump(struct runexec *rx)
{
    enter(rx);
    pump(rx);
    leave(rx);
}

bool runexec_done(const struct runexec *rx)
{
    return rx->done;
}

int64_t runexec_run_number(const struct runexec *rx)
{
    return rx->run_number;
}

int64_t runexec_run_id(const struct runexec *rx)
{
    return rx->run_id;
}

const struct sched *runexec_sched(const struct runexec *rx)
{
    return rx->sched;
}

const char *runexec_log_path(const struct runexec *rx, size_t job)
{
    return rx->jobs[job].log_path;
}

const char *runexec_workspace(const struct runexec *rx, size_t job)
{
    return rx->jobs[job].ws_kept ? rx->jobs[job].ws_dir : NULL;
}

int64_t runexec_duration_ms(const struct runexec *rx, size_t job)
{
    const struct rjob *j = &rx->jobs[job];
    if (!j->t_start)
        return 0;
    return (j->t_end ? j->t_end : mono_ms()) - j->t_start;
}

const char *runexec_log_dir(const struct runexec *rx)
{
    return rx->log_dir;
}

bool runexec_have_bwrap(void)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    struct buf b = BUF_INIT;
    bool found = false;
    while (*path && !found) {
        size_t l = strcspn(path, ":");
        buf_reset(&b);
        buf_add(&b, path, l);
        buf_adds(&b, "/bwrap");
        found = access(b.data, X_OK) == 0;
        path += l;
        if (*path == ':')
            path++;
    }
    buf_release(&b);
    return found;
}
