#!/usr/bin/env bash
# Single-node Apache Cassandra 5.0 on 127.0.0.1:9042, run from jars that Maven fetches into
# $STATE_DIR/lib/cassandra (infra/cassandra/pom.xml). Usage: cassandra.sh {start|stop|status}
# Config, data, logs and the PID file live under $STATE_DIR/cassandra/. Ready means a real
# CQL query answers (infra/cassandra/cql_ready.py), not just an open port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=cassandra
CQL_PORT=9042
STORAGE_PORT=7000
JMX_PORT=7199
START_TIMEOUT=180
STOP_GRACE=60 # drain flushes memtables on SIGTERM; give it time rather than SIGKILL

HOME_DIR="$(service_dir "$NAME")"
CONF_DIR="$HOME_DIR/conf"
DATA_DIR="$HOME_DIR/data"
LOG_DIR="$HOME_DIR/logs"
LIB_DIR="$STATE_DIR/lib/$NAME"
MAIN_CLASS=org.apache.cassandra.service.CassandraDaemon

cql_ready() { python3 "$INFRA_DIR/cassandra/cql_ready.py" 127.0.0.1 "$CQL_PORT" 3; }

# Our recorded PID, but only if it is still a Cassandra JVM: after a reboot the number may
# belong to an unrelated process, which we must neither report nor signal. (spawn_detached's
# wrapper, in the instant before it execs java, carries the main class in its arguments too.)
our_pid() {
    local pid
    pid="$(running_pid "$NAME")" || return 1
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$MAIN_CLASS"; then
        rm -f "$(pid_file "$NAME")"
        return 1
    fi
    printf '%s' "$pid"
}

# Byte offsets of the logs when we launched, so a failure shows this run's lines only.
declare -A LOG_START=()

show_logs() {
    local f lines
    for f in "$LOG_DIR/stdout.log" "$LOG_DIR/system.log"; do
        lines="$(tail -c +$((${LOG_START[$f]:-0} + 1)) "$f" 2>/dev/null | tail -n 40)"
        [ -n "$lines" ] || lines="$(tail -n 40 "$f" 2>/dev/null)" # rolled over meanwhile
        [ -n "$lines" ] || continue
        log "last lines of $f:"
        printf '%s\n' "$lines" >&2
    done
}

# Fill the state paths into the templates; redone on every start so template edits apply.
render_config() {
    mkdir -p "$CONF_DIR/triggers" "$DATA_DIR" "$LOG_DIR"
    local data_esc
    data_esc="$(printf '%s' "$DATA_DIR" | sed 's/[\\|&]/\\&/g')"
    sed "s|@DATA_DIR@|$data_esc|g" "$INFRA_DIR/cassandra/cassandra.yaml" >"$CONF_DIR/cassandra.yaml"
    cp "$INFRA_DIR/cassandra/logback.xml" "$CONF_DIR/logback.xml"
}

jvm_opts() {
    local jamm=("$LIB_DIR"/jamm-*.jar)
    [ -f "${jamm[0]}" ] || die "$NAME: no jamm jar in $LIB_DIR"
    JVM_OPTS=(
        # Small heap for a dev box. Cassandra mlockall()s the JVM at start-up (it succeeds as
        # root), which makes all of -Xms resident at once: 256m rather than 512m saves ~270 MB
        # of RSS and the heap still grows to 1g when needed. No -Xmn: a fixed young generation
        # defeats G1's pause target. No AlwaysPreTouch, for the same RSS reason.
        -Xms256m -Xmx1g -Xss256k
        -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
        -XX:MaxGCPauseMillis=300 -XX:+UseThreadPriorities -XX:+PerfDisableSharedMem
        -XX:+ExitOnOutOfMemoryError # a JVM limping on after OOM can corrupt data
        -Djava.net.preferIPv4Stack=true
        # jamm measures object sizes for memtable accounting (cassandra-env.sh adds it too).
        "-javaagent:${jamm[0]}"
        # JDK 17 module access, copied from Cassandra 5.0's conf/jvm17-server.options.
        -Djdk.attach.allowAttachSelf=true
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
        --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        -Dio.netty.tryReflectionSetAccessible=true
        -Dio.netty.allocator.useCacheForAllThreads=true
        -Dio.netty.allocator.maxOrder=11
        # Where things are.
        "-Dcassandra.config=file://$CONF_DIR/cassandra.yaml"
        "-Dlogback.configurationFile=$CONF_DIR/logback.xml"
        "-Dcassandra.logdir=$LOG_DIR"
        "-Dcassandra.storagedir=$DATA_DIR"
        "-Dcassandra.triggers_dir=$CONF_DIR/triggers"
        # Stay attached to stdout and never fork, so the PID we record is the JVM itself.
        -Dcassandra-foreground=yes
        # JMX for nodetool, bound to localhost only and without auth (cassandra-env.sh LOCAL_JMX).
        "-Dcassandra.jmx.local.port=$JMX_PORT"
        -Dcom.sun.management.jmxremote.authenticate=false
        # A lone seed node has no peers to wait for: skip the gossip settle and ring delays.
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        -Dcassandra.ring_delay_ms=0
    )
    # Extra flags for one-off experiments, e.g. CASSANDRA_EXTRA_JVM_OPTS=-Xmx2g (word-split).
    local extra
    read -r -a extra <<<"${CASSANDRA_EXTRA_JVM_OPTS:-}"
    JVM_OPTS+=("${extra[@]}")
}

launch() {
    render_config
    jvm_opts
    local f
    for f in "$LOG_DIR/stdout.log" "$LOG_DIR/system.log"; do
        LOG_START[$f]="$(stat -c %s "$f" 2>/dev/null || echo 0)"
    done
    # Own session, inherited descriptors closed, and the recorded PID is the JVM itself.
    spawn_detached "$NAME" "$LOG_DIR/stdout.log" \
        java "${JVM_OPTS[@]}" -cp "$CONF_DIR:$LIB_DIR/*" "$MAIN_CLASS"
    log "$NAME: started pid $(recorded_pid "$NAME"), waiting for CQL (logs in $LOG_DIR)"
}

start() {
    local t0="$EPOCHREALTIME" pid
    if pid="$(our_pid)"; then
        if cql_ready >/dev/null 2>&1; then
            log "$NAME: already running (pid $pid) and serving CQL, nothing to do"
            return 0
        fi
        log "$NAME: our pid $pid is alive but not serving CQL yet, waiting"
    elif cql_ready >/dev/null 2>&1; then
        log "$NAME: reusing the Cassandra already serving CQL on 127.0.0.1:$CQL_PORT (not started by this script; stop will leave it alone)"
        return 0
    else
        port_open "$CQL_PORT" && die "$NAME: port $CQL_PORT is taken by something that does not speak CQL; free it and retry"
        # The node needs these too; a clash would otherwise only show as a stack trace in the log.
        port_open "$STORAGE_PORT" && die "$NAME: storage port $STORAGE_PORT is already in use"
        port_open "$JMX_PORT" && die "$NAME: JMX port $JMX_PORT is already in use"
        command -v java >/dev/null || die "java not found (Cassandra 5.0 needs JDK 11 or 17)"
        command -v python3 >/dev/null || die "python3 not found (needed for the CQL readiness check)"
        fetch_jars "$NAME" "$INFRA_DIR/cassandra/pom.xml"
        launch
    fi
    if ! wait_ready "$NAME" "$START_TIMEOUT" cql_ready; then
        show_logs
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
    cql_ready >/dev/null 2>&1 && ready=yes
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
