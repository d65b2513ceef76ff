/*
 * leader: the process that stands between flywheel and a job's command and
 * makes sure that no process outlives the job.
 *
 * flywheel starts `flywheel-leader [--shell-status] --grace MS --status-fd FD -- PROG ARGS...`
 * (or `flywheel __leader ...`, the same code)
 * in a new session, with the job's environment, working directory and
 * output pipe, and every signal at its default disposition (which PROG
 * inherits as it is). The leader:
 *   - becomes a child subreaper, so that every orphaned descendant of the job
 *     (a daemon that double-forks, a process that calls setsid) is reparented
 *     to it instead of to init;
 *   - starts PROG in a process group of its own and waits;
 *   - when PROG exits, or the leader gets SIGTERM/SIGINT/SIGHUP (a timeout or
 *     a cancel), or flywheel dies (PR_SET_PDEATHSIG), sends SIGTERM to the
 *     job's process group and to every remaining descendant, waits up to the
 *     grace period, then SIGKILLs whatever is left, and reaps it all;
 *   - reports how PROG ended on the status fd, one line:
 *         "exit N"        PROG exited with status N
 *         "signal N"      PROG was killed by signal N
 *         "error MESSAGE" PROG could not be started (MESSAGE says why)
 *     and exits with N, 128+N or 127.
 *   - with --shell-status, reports a PROG that died of a signal the leader
 *     was not asked to send as "exit 128+N", as `sh -c` does for the
 *     commands it runs: flywheel uses it when it runs a plain command
 *     without the shell.
 * An exec failure is also written to the job's output, so the log says it.
 */
#ifndef FLYWHEEL_EXEC_LEADER_H
#define FLYWHEEL_EXEC_LEADER_H

/* The hidden command "__leader": never returns normally to a caller that
 * expects to go on; returns the process exit status. */
int leader_main(int argc, char **argv);

#endif
