# shellcheck shell=bash
# Redis helpers shared by infra/redis.sh (one server) and infra/cluster.sh (a six-node Redis
# Cluster). Source it after common.sh; do not run it. A server keeps its files in a
# directory DIR (redis.log, stdout.log, and a cluster node's nodes.conf) and is known by a
# service name whose pid file is $STATE_DIR/<name>/pid (common.sh).

# Debian's redis-server, and redis-cli (redis-tools), which the readiness checks need.
redis_ensure_installed() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || die "redis-server is not installed and installing it needs root: run 'sudo apt-get install -y redis-server redis-tools'"
    log "redis: installing Debian's redis-server"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only if the install fails with the current ones.
    apt-get install -y redis-server redis-tools >&2 \
        || { apt-get update >&2 && apt-get install -y redis-server redis-tools >&2; } \
        || die "redis: apt-get could not install redis-server"
}

# redis_cli PORT ARGS...: redis-cli against 127.0.0.1:PORT. Bounded: redis-cli waits
# forever on a port that accepts but never replies.
redis_cli() {
    local port="$1"
    shift
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# redis_ping PORT: a Redis answers PING on 127.0.0.1:PORT.
redis_ping() { [ "$(redis_cli "$1" ping 2>/dev/null)" = PONG ]; }

# redis_launch NAME DIR PORT [ARGS...]: start redis-server on 127.0.0.1:PORT in the background
# (spawn_detached), no persistence (no RDB snapshots, no AOF), files in DIR; ARGS are more
# redis-server options. Not daemonized by redis itself, so the recorded PID is redis-server's own.
redis_launch() {
    local name="$1" dir="$2" port="$3"
    shift 3
    mkdir -p "$dir"
    mark_logs "$dir/stdout.log" "$dir/redis.log"
    spawn_detached "$name" "$dir/stdout.log" \
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize no --save "" --appendonly no "$@"
    log "$name: started pid $(recorded_pid "$name"), waiting for PONG"
}

# redis_show_logs DIR: this launch's last log lines of the server in DIR.
redis_show_logs() { show_new_log_lines 30 "$1/stdout.log" "$1/redis.log"; }
