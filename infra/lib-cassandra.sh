# shellcheck shell=bash
# Cassandra helpers shared by infra/cassandra.sh (one node) and infra/cluster.sh (three
# nodes). Source it after common.sh; do not run it. A node lives in a directory HOME holding
# conf/ (rendered from infra/cassandra/), data/ and logs/, and is known by a service name
# whose pid file is $STATE_DIR/<name>/pid (common.sh).

CASSANDRA_LIB="$STATE_DIR/lib/cassandra"
CASSANDRA_CONF="$INFRA_DIR/cassandra"
CASSANDRA_MAIN_CLASS=org.apache.cassandra.service.CassandraDaemon

cassandra_fetch_jars() { fetch_jars cassandra "$CASSANDRA_CONF/pom.xml"; }

# cql_ready HOST PORT: a real CQL query answers (infra/cassandra/cql_ready.py), not just an
# open port.
cql_ready() { python3 "$CASSANDRA_CONF/cql_ready.py" "$1" "$2" 3; }

# cql_peers HOST PORT: the addresses in the node's system.peers, one a line (the nodes it
# has seen join the ring).
cql_peers() { python3 "$CASSANDRA_CONF/cql_peers.py" "$1" "$2" 3; }

# cassandra_pid NAME: our recorded PID, but only if it is still a Cassandra JVM: after a
# reboot the number may belong to an unrelated process, which we must neither report nor
# signal.
cassandra_pid() { running_pid_of "$1" "$CASSANDRA_MAIN_CLASS"; }

# cassandra_render_config HOME KEY=VALUE...: HOME/conf from the templates, with the state
# paths and the node's placeholders (CLUSTER_NAME, ADDRESS, SEEDS, INITIAL_TOKEN, see
# cassandra.yaml) filled in; redone on every start so template edits apply.
cassandra_render_config() {
    local home="$1"
    shift
    mkdir -p "$home/conf/triggers" "$home/data" "$home/logs"
    render_template "$CASSANDRA_CONF/cassandra.yaml" "$home/conf/cassandra.yaml" "DATA_DIR=$home/data" "$@"
    cp "$CASSANDRA_CONF/logback.xml" "$home/conf/logback.xml"
}

# cassandra_jvm_opts HOME JMX_PORT HEAP_OPTS [EXTRA...]: the node's JVM flags into JVM_OPTS.
# HEAP_OPTS holds several flags; EXTRA (e.g. -Dcassandra.ring_delay_ms=...) come after ours.
cassandra_jvm_opts() {
    local home="$1" jmx_port="$2" heap extra
    read -r -a heap <<<"$3"
    shift 3
    local jamm=("$CASSANDRA_LIB"/jamm-*.jar)
    [ -f "${jamm[0]}" ] || die "cassandra: no jamm jar in $CASSANDRA_LIB"
    JVM_OPTS=(
        # Small heaps for a dev box. Cassandra mlockall()s the JVM at start-up (it succeeds as
        # root), which makes all of -Xms resident at once: keep -Xms low (see the callers) and
        # let the heap grow when needed. No -Xmn: a fixed young generation defeats G1's pause
        # target. No AlwaysPreTouch, for the same RSS reason.
        "${heap[@]}" -Xss256k
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
        "-Dcassandra.config=file://$home/conf/cassandra.yaml"
        "-Dlogback.configurationFile=$home/conf/logback.xml"
        "-Dcassandra.logdir=$home/logs"
        "-Dcassandra.storagedir=$home/data"
        "-Dcassandra.triggers_dir=$home/conf/triggers"
        # Stay attached to stdout and never fork, so the PID we record is the JVM itself.
        -Dcassandra-foreground=yes
        # JMX for nodetool, bound to localhost only and without auth (cassandra-env.sh LOCAL_JMX).
        "-Dcassandra.jmx.local.port=$jmx_port"
        -Dcom.sun.management.jmxremote.authenticate=false
        "$@"
    )
    # Extra flags for one-off experiments, e.g. CASSANDRA_EXTRA_JVM_OPTS=-Xmx2g (word-split).
    read -r -a extra <<<"${CASSANDRA_EXTRA_JVM_OPTS:-}"
    JVM_OPTS+=("${extra[@]}")
}

# cassandra_launch NAME HOME JMX_PORT HEAP_OPTS [EXTRA...]: start the node of HOME/conf in the
# background (spawn_detached: own session, inherited descriptors closed, and the recorded PID
# is the JVM itself). Render the config first (cassandra_render_config).
cassandra_launch() {
    local name="$1" home="$2"
    shift 2
    cassandra_jvm_opts "$home" "$@"
    mark_logs "$home/logs/stdout.log" "$home/logs/system.log"
    spawn_detached "$name" "$home/logs/stdout.log" \
        java "${JVM_OPTS[@]}" -cp "$home/conf:$CASSANDRA_LIB/*" "$CASSANDRA_MAIN_CLASS"
    log "$name: started pid $(recorded_pid "$name"), waiting for CQL (logs in $home/logs)"
}

# cassandra_show_logs HOME: this launch's last log lines of the node in HOME.
cassandra_show_logs() { show_new_log_lines 40 "$1/logs/stdout.log" "$1/logs/system.log"; }

# nodetool JMX_PORT ARGS...: Cassandra's nodetool from the same jars, against the node whose
# JMX listens on 127.0.0.1:JMX_PORT. Bounded; quiet logging; its history file goes under
# $STATE_DIR/nodetool rather than ~/.cassandra.
nodetool() {
    local port="$1"
    shift
    timeout 60 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
        --add-exports java.base/jdk.internal.ref=ALL-UNNAMED \
        --add-exports java.base/sun.nio.ch=ALL-UNNAMED \
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
        "-Duser.home=$STATE_DIR/nodetool" \
        "-Dlogback.configurationFile=$CASSANDRA_CONF/tools-logback.xml" \
        -cp "$CASSANDRA_LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$port" "$@"
}

# cassandra_up_normal JMX_PORT: the addresses the node at JMX_PORT sees Up and Normal (UN in
# nodetool status), one a line.
cassandra_up_normal() {
    local out
    out="$(nodetool "$1" status 2>/dev/null)" || return 1
    printf '%s\n' "$out" | awk '$1 == "UN" { print $2 }'
}
