#!/usr/bin/env bash
# Single-node Apache Cassandra 5.0 on 127.0.0.1:9042, run from jars that Maven fetches into
# $STATE_DIR/lib/cassandra (infra/cassandra/pom.xml). Usage: cassandra.sh {start|stop|status}
# Config, data, logs and the PID file live under $STATE_DIR/cassandra/. Ready means a real
# CQL query answers (infra/cassandra/cql_ready.py), not just an open port.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=lib-cassandra.sh
source "$INFRA_DIR/lib-cassandra.sh"

NAME=cassandra
CQL_PORT=9042
STORAGE_PORT=7000
JMX_PORT=7199
START_TIMEOUT=180
STOP_GRACE=60 # drain flushes memtables on SIGTERM; give it time rather than SIGKILL

HOME_DIR="$(service_dir "$NAME")"

node_ready() { cql_ready 127.0.0.1 "$CQL_PORT"; }

our_pid() { cassandra_pid "$NAME"; }

launch() {
    cassandra_render_config "$HOME_DIR" CLUSTER_NAME=leaderboard-local ADDRESS=127.0.0.1 \
        SEEDS=127.0.0.1:7000 INITIAL_TOKEN=0
    # Heap: 256m rather than 512m of -Xms saves ~270 MB of RSS (mlockall, see lib-cassandra.sh)
    # and the heap still grows to 1g when needed. A lone seed node has no peers to wait for:
    # skip the gossip settle and ring delays.
    cassandra_launch "$NAME" "$HOME_DIR" "$JMX_PORT" "-Xms256m -Xmx1g" \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=0
}

start() {
    local t0="$EPOCHREALTIME" pid
    if pid="$(our_pid)"; then
        if node_ready >/dev/null 2>&1; then
            log "$NAME: already running (pid $pid) and serving CQL, nothing to do"
            return 0
        fi
        log "$NAME: our pid $pid is alive but not serving CQL yet, waiting"
    elif node_ready >/dev/null 2>&1; then
        log "$NAME: reusing the Cassandra already serving CQL on 127.0.0.1:$CQL_PORT (not started by this script; stop will leave it alone)"
        return 0
    else
        port_open "$CQL_PORT" && die "$NAME: port $CQL_PORT is taken by something that does not speak CQL; free it and retry"
        # The node needs these too; a clash would otherwise only show as a stack trace in the log.
        port_open "$STORAGE_PORT" && die "$NAME: storage port $STORAGE_PORT is already in use"
        port_open "$JMX_PORT" && die "$NAME: JMX port $JMX_PORT is already in use"
        command -v java >/dev/null || die "java not found (Cassandra 5.0 needs JDK 11 or 17)"
        command -v python3 >/dev/null || die "python3 not found (needed for the CQL readiness check)"
        cassandra_fetch_jars
        launch
    fi
    if ! wait_ready "$NAME" "$START_TIMEOUT" node_ready; then
        cassandra_show_logs "$HOME_DIR"
        running_pid "$NAME" >/dev/null && die "$NAME: failed to start; stop it with: bash infra/cassandra.sh stop"
        rm -f "$(pid_file "$NAME")"
        die "$NAME: the JVM exited during start-up"
    fi
    log "$NAME: ready on 127.0.0.1:$CQL_PORT (pid $(running_pid "$NAME")), start took $(elapsed "$t0")s"
}

stop() {
    our_pid >/dev/null || true # forget a PID file that no longer names our JVM
    stop_service_pid "$NAME" "$STOP_GRACE"
    if port_open "$CQL_PORT"; then
        log "$NAME: port $CQL_PORT still answers: that Cassandra was not started by this script, left alone"
    fi
}

# Exit status 0 only when CQL answers, so callers can use `cassandra.sh status && ...`.
status() {
    local pid ready=no
    node_ready >/dev/null 2>&1 && ready=yes
    if pid="$(our_pid)"; then
        echo "$NAME: running (pid $pid), CQL ready: $ready"
    elif [ "$ready" = yes ]; then
        echo "$NAME: not started by us, but port $CQL_PORT serves CQL (external), CQL ready: yes"
    else
        echo "$NAME: not running, CQL ready: no"
    fi
    [ "$ready" = yes ]
}

case "${1:-}" in
    # Two concurrent starts must not both launch; -o: the JVM must not inherit the lock.
    start) mkdir -p "$HOME_DIR" && exec flock -o "$HOME_DIR/start.lock" bash "${BASH_SOURCE[0]}" locked-start ;;
    locked-start) start ;;
    stop | status) "$1" ;;
    *) die "usage: $0 {start|stop|status}" ;;
esac
