# shellcheck shell=bash
# Shared helpers for the infra/ service scripts. Source it; do not run it.
#
# Every service keeps its state under "$STATE_DIR/<service>/" (data, logs, pid file),
# so stopping only ever touches PIDs this checkout started.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$INFRA_DIR/.." && pwd)"
STATE_DIR="${LEADERBOARD_STATE_DIR:-$REPO_DIR/.state}"

log() { printf '[infra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

service_dir() { printf '%s/%s' "$STATE_DIR" "$1"; }
pid_file() { printf '%s/%s/pid' "$STATE_DIR" "$1"; }

# When process PID started (clock ticks after boot; field 22 of /proc/PID/stat, read
# after the command name, which may hold spaces).
start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    # shellcheck disable=SC2086
    set -- ${stat##*) }
    printf '%s' "${20}"
}

# The PID recorded for a service (the first word of its pid file), alive or not.
recorded_pid() { local pid _; read -r pid _ <"$(pid_file "$1")" && printf '%s' "$pid"; }

# The PID recorded for a service, printed only if that very process is still alive: the
# pid file also holds the process's start time, so after a reboot or PID reuse an
# unrelated process with the same number is neither reported nor signalled.
running_pid() {
    local file pid started
    file="$(pid_file "$1")"
    [ -f "$file" ] || return 1
    read -r pid started <"$file" || true
    [ -n "$pid" ] && [ -n "$started" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(start_time "$pid")" = "$started" ] || return 1
    printf '%s' "$pid"
}

# running_pid_of SERVICE PATTERN: like running_pid, but only while the process's command line
# still holds PATTERN (e.g. its main class); a pid file naming anything else is forgotten.
# (spawn_detached's wrapper, in the instant before it execs, carries the command in its
# arguments too.)
running_pid_of() {
    local pid
    pid="$(running_pid "$1")" || return 1
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
        rm -f "$(pid_file "$1")"
        return 1
    fi
    printf '%s' "$pid"
}

# rss_kb PID: the process's resident memory in KiB (VmRSS), 0 if it is gone.
rss_kb() { awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every half second until it
# succeeds; fail with the description when the deadline passes.
wait_until() {
    local timeout="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

# port_open PORT [HOST]: something accepts connections on HOST (default 127.0.0.1) PORT.
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# stop_pid SERVICE [GRACE_SECONDS]: SIGTERM the recorded PID, SIGKILL it after the
# grace period, then forget it. Never looks processes up by name.
stop_service_pid() {
    local name="$1" grace="${2:-30}" pid
    if ! pid="$(running_pid "$name")"; then
        rm -f "$(pid_file "$name")"
        log "$name: not running (nothing of ours to stop)"
        return 0
    fi
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name: still alive after ${grace}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$(pid_file "$name")"
}

# fetch_jars SERVICE POM: copy the POM's runtime dependencies into
# $STATE_DIR/lib/SERVICE once (Maven's own ~/.m2 cache makes later copies cheap).
fetch_jars() {
    local name="$1" pom="$2" lib stamp sum
    lib="$STATE_DIR/lib/$name"
    stamp="$lib/.pom.sha256"
    sum="$(sha256sum "$pom" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
    log "$name: fetching jars from Maven Central (first run only)"
    rm -rf "$lib"
    mkdir -p "$lib"
    # services.sh starts several services at once; concurrent Maven runs writing the
    # same artifacts into ~/.m2 can corrupt them, so take turns.
    flock "$STATE_DIR/lib/.maven.lock" \
        mvn -q -B -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib" \
        || die "$name: Maven could not fetch the jars named in $pom"
    printf '%s' "$sum" >"$stamp"
}

# spawn_detached SERVICE OUTPUT_FILE COMMAND...: run COMMAND in a session of its own, so it
# outlives the calling shell (and any kill of that shell's process group), output appended
# to OUTPUT_FILE, and record its PID and start time. The wrapper writes its own, closes inherited
# descriptors above stderr (a caller's pipe held open by the service would leave that
# caller waiting for EOF forever), then execs COMMAND: the recorded PID is the service's
# own even when setsid has to fork.
spawn_detached() {
    local name="$1" out="$2" file
    shift 2
    file="$(pid_file "$name")"
    mkdir -p "$(dirname "$file")" "$(dirname "$out")"
    rm -f "$file"
    # shellcheck disable=SC2016
    setsid bash -c '
        stat="$(cat /proc/$$/stat)"
        fields=(${stat##*) })
        echo "$$ ${fields[19]}" >"$0"
        for fd in /proc/$$/fd/*; do
            fd="${fd##*/}"
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done
        exec "$@"' "$file" "$@" </dev/null >>"$out" 2>&1 &
    wait_until 10 "$name to record its pid" test -s "$file"
}

# wait_ready SERVICE TIMEOUT CHECK...: like wait_until, but gives up at once if the
# service's recorded process dies, rather than waiting out the deadline.
wait_ready() {
    local name="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! running_pid "$name" >/dev/null; then
            log "$name: the process exited while starting"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name: not ready after ${timeout}s (process $(running_pid "$name") left running)"
            return 1
        fi
        sleep 0.5
    done
}

# elapsed START: seconds since START (an $EPOCHREALTIME value), one decimal.
elapsed() { LC_ALL=C awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# render_template TEMPLATE OUTPUT [KEY=VALUE...]: write TEMPLATE to OUTPUT with every @KEY@
# replaced by VALUE (any characters but a newline). Fails, leaving OUTPUT as it was, if a
# placeholder is left unfilled; OUTPUT is replaced whole, never seen half-written.
render_template() {
    local template="$1" out="$2" pair value script=(-e '')
    shift 2
    for pair in "$@"; do
        value="$(printf '%s' "${pair#*=}" | sed 's/[\\|&]/\\&/g')"
        script+=(-e "s|@${pair%%=*}@|$value|g")
    done
    sed "${script[@]}" "$template" >"$out.new" || { rm -f "$out.new"; return 1; }
    if grep -n '@[A-Z][A-Z_]*@' "$out.new" >&2; then
        rm -f "$out.new"
        log "$template: placeholders above left unfilled"
        return 1
    fi
    mv "$out.new" "$out"
}

# Byte offsets of log files when a service was launched (mark_logs FILE...), so that a
# failure shows that run's lines only (show_new_log_lines LINES FILE...).
declare -gA LOG_START=()

mark_logs() {
    local f
    for f in "$@"; do
        LOG_START[$f]="$(stat -c %s "$f" 2>/dev/null || echo 0)"
    done
}

show_new_log_lines() {
    local count="$1" f lines from
    shift
    for f in "$@"; do
        from="${LOG_START[$f]:-0}"
        # A file now shorter than when we launched was rolled over meanwhile: show its tail.
        [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge "$from" ] || from=0
        lines="$(tail -c +$((from + 1)) "$f" 2>/dev/null | tail -n "$count")"
        [ -n "$lines" ] || continue
        log "last lines of $f:"
        printf '%s\n' "$lines" >&2
    done
}
