#!/bin/sh
# deploy.sh: installs one release of the service on one target and starts it.
#
# flywheel runs it once per target, as the `run` (and rollback) command of
# each environment in .flywheel.yml, with:
#
#   FLYWHEEL_ENV         the environment: staging, production
#   FLYWHEEL_TARGET      the target: stage-1, canary, eu-1, ...
#   FLYWHEEL_RELEASE     the release to run: r7
#   FLYWHEEL_ARTIFACTS   a directory with the release's files (bin/service, bin/VERSION)
#   PORT                 the target's loopback port (a target variable)
#   FLYWHEEL_DEPLOY_ROOT or DEPLOY_ROOT (optional): where targets live,
#                        default $HOME/.flywheel-demo
#
# A target is a directory, ROOT/ENV/TARGET:
#
#   RELEASE/service, RELEASE/VERSION   each release installed, as built
#   RELEASE/service.log                its output
#   service.pid, current               the running process and its release
#
# Exit 0: the release answers /health on PORT (also when it already did:
# deploying the running release again changes nothing). Exit 1: it could not
# be installed or started, or it did not answer /health within 5 s; the
# process that failed is left running, so that the target's state is what
# it is, and the next deployment (a rollback) replaces it.
#
# The service must outlive this command, so it is started detached: in a
# session and process group of its own (setsid), with no terminal, its
# output in a file. A deploy command that starts a service must detach it
# like this. flywheel's job leader stops every process a *job* leaves
# behind, detached or not (it is their subreaper); a deploy command is not a
# job, and only its own process group is stopped when it ends or times out.
set -eu

: "${FLYWHEEL_ENV:?FLYWHEEL_ENV is not set}"
: "${FLYWHEEL_TARGET:?FLYWHEEL_TARGET is not set}"
: "${FLYWHEEL_RELEASE:?FLYWHEEL_RELEASE is not set}"
: "${FLYWHEEL_ARTIFACTS:?FLYWHEEL_ARTIFACTS is not set}"
: "${PORT:?PORT is not set (a variable of the target in .flywheel.yml)}"

for name in "$FLYWHEEL_ENV" "$FLYWHEEL_TARGET" "$FLYWHEEL_RELEASE"; do
    case $name in
    */* | . | ..)
        echo "deploy.sh: '$name' cannot name a directory" >&2
        exit 1
        ;;
    esac
done

root=${FLYWHEEL_DEPLOY_ROOT:-${DEPLOY_ROOT:-$HOME/.flywheel-demo}}
target=$root/$FLYWHEEL_ENV/$FLYWHEEL_TARGET
release=$target/$FLYWHEEL_RELEASE
url=http://127.0.0.1:$PORT
me="deploy $FLYWHEEL_ENV/$FLYWHEEL_TARGET"

say() {
    printf '%s: %s\n' "$me" "$*"
}

healthy() {
    curl -fsS -o /dev/null -m 1 "$url/health" 2>/dev/null
}

# alive PID: the process runs, and from a directory under the deploy root
# (so a pid file left from before a reboot never names someone else's process).
alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
        case $(readlink "/proc/$1/cwd" 2>/dev/null) in
        "$root_real"/*) true ;;
        *) false ;;
        esac
}

mkdir -p "$target"
root_real=$(cd "$root" && pwd -P)
old_pid=$(cat "$target/service.pid" 2>/dev/null || true)
current=$(cat "$target/current" 2>/dev/null || true)

if [ "$current" = "$FLYWHEEL_RELEASE" ] && alive "$old_pid" && healthy; then
    say "$FLYWHEEL_RELEASE is already running on $url (pid $old_pid)"
    exit 0
fi

# Install the release's files as they are (built once: the same bytes everywhere).
bin=$FLYWHEEL_ARTIFACTS/bin
[ -f "$bin/service" ] || bin=$FLYWHEEL_ARTIFACTS
if [ ! -f "$bin/service" ]; then
    say "no service binary in $FLYWHEEL_ARTIFACTS (expected bin/service)" >&2
    exit 1
fi
rm -rf "$release.new"
mkdir -p "$release.new"
cp "$bin/service" "$release.new/service"
chmod 755 "$release.new/service"
if [ -f "$bin/VERSION" ]; then
    cp "$bin/VERSION" "$release.new/VERSION"
fi
rm -rf "$release"
mv "$release.new" "$release"

# Stop what runs there: SIGTERM, then SIGKILL after 5 s.
if alive "$old_pid"; then
    say "stopping ${current:-the old release} (pid $old_pid)"
    kill -TERM "$old_pid" 2>/dev/null || true
    n=0
    while alive "$old_pid" && [ $n -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if alive "$old_pid"; then
        kill -KILL "$old_pid" 2>/dev/null || true
    fi
fi
rm -f "$target/service.pid" "$target/current"

cd "$release"
setsid ./service "$PORT" >service.log 2>&1 </dev/null &
pid=$!
echo "$pid" >"$target/service.pid"
echo "$FLYWHEEL_RELEASE" >"$target/current"

# Healthy means: our process is alive, listens (it says so once it does, so
# that another process on the port is never taken for it), and /health
# answers. Bounded: 5 s.
n=0
while [ $n -lt 50 ]; do
    if ! alive "$pid"; then
        say "$FLYWHEEL_RELEASE exited at start:" >&2
        tail -n 5 service.log >&2
        exit 1
    fi
    if grep -q '^listening on ' service.log && healthy; then
        say "$FLYWHEEL_RELEASE ($(cat VERSION 2>/dev/null || echo unknown)) runs on $url (pid $pid)"
        exit 0
    fi
    sleep 0.1
    n=$((n + 1))
done
say "$FLYWHEEL_RELEASE does not answer $url/health after 5 s" >&2
exit 1
