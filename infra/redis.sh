#!/usr/bin/env bash
# Redis (Debian's redis-server) on 127.0.0.1:6379, no persistence, state under
# $STATE_DIR/redis. Usage: redis.sh {start|stop|status}
# status exits 0 only when a Redis (ours or not) answers PING on the port.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=lib-redis.sh
source "$INFRA_DIR/lib-redis.sh"

PORT=6379
START_TIMEOUT=30
DIR="$(service_dir redis)"

redis_ready() { redis_ping "$PORT"; }

start() {
    local t0="$EPOCHREALTIME" pid
    redis_ensure_installed
    if pid="$(running_pid redis)"; then
        if redis_ready; then
            log "redis: already running (pid $pid), nothing to do"
            return 0
        fi
        log "redis: our pid $pid is alive but not answering yet, waiting"
    elif port_open "$PORT"; then
        # e.g. the system redis that Debian's package starts on install.
        redis_ready || die "redis: port $PORT is taken by something that does not answer Redis PING; free it and retry"
        log "redis: reusing the Redis already answering on 127.0.0.1:$PORT (not started by this script; stop will leave it alone)"
        return 0
    else
        redis_launch redis "$DIR" "$PORT"
    fi
    wait_ready redis "$START_TIMEOUT" redis_ready || {
        redis_show_logs "$DIR"
        die "redis: failed to start"
    }
    log "redis: ready on 127.0.0.1:$PORT (pid $(running_pid redis)), start took $(elapsed "$t0")s"
}

stop() {
    stop_service_pid redis 15
    if port_open "$PORT"; then
        log "redis: port $PORT still answers: that Redis was not started by this script, left alone"
    fi
}

status() {
    local pid
    if pid="$(running_pid redis)"; then
        redis_ready || { echo "redis: pid $pid alive but not answering on 127.0.0.1:$PORT (starting?)"; return 1; }
        echo "redis: running (pid $pid) on 127.0.0.1:$PORT"
    elif command -v redis-cli >/dev/null && redis_ready; then
        echo "redis: running on 127.0.0.1:$PORT (external, not started by this script)"
    else
        echo "redis: not running"
        return 1
    fi
}

case "${1:-}" in
    # Two concurrent starts must not both launch; -o: the service must not inherit the lock.
    start) mkdir -p "$DIR" && exec flock -o "$DIR/start.lock" bash "${BASH_SOURCE[0]}" locked-start ;;
    locked-start) start ;;
    stop | status) "$1" ;;
    *) die "usage: $0 {start|stop|status}" ;;
esac
