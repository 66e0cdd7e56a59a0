# shellcheck shell=bash
# Kafka helpers shared by infra/kafka.sh (one node) and infra/cluster.sh (three nodes).
# Source it after common.sh; do not run it. A node lives in a directory DIR holding
# server.properties, data/ (log.dirs) and logs/, and is known by a service name whose pid
# file is $STATE_DIR/<name>/pid (common.sh).

KAFKA_LIB="$STATE_DIR/lib/kafka"
KAFKA_CONF="$INFRA_DIR/kafka"
KAFKA_MAIN_CLASS=kafka.Kafka

kafka_fetch_jars() { fetch_jars kafka "$KAFKA_CONF/pom.xml"; }

# Run a Kafka command-line class with quiet (stderr, WARN) logging.
kafka_tool() {
    java -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.xml" -cp "$KAFKA_LIB/*" "$@"
}

# kafka_lists_topics BOOTSTRAP [ADMIN_CONFIG]: the admin API lists topics through BOOTSTRAP,
# which needs a broker up and unfenced, not just a listening socket. Bounded so a port that
# never answers cannot hang us.
kafka_lists_topics() {
    timeout 30 java -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.xml" -cp "$KAFKA_LIB/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" \
        --command-config "${2:-$KAFKA_CONF/admin.properties}" --list >/dev/null 2>&1
}

# kafka_broker_states BOOTSTRAP: one "ID STATE" line (STATE fenced or unfenced) per broker
# registered with the controllers, as the broker at BOOTSTRAP reports them.
kafka_broker_states() {
    timeout 30 java -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.xml" -cp "$KAFKA_LIB/*" \
        org.apache.kafka.tools.ClusterTool list-endpoints --bootstrap-server "$1" \
        --config "$KAFKA_CONF/admin.properties" --include-fenced-brokers 2>/dev/null |
        awk '$6 == "broker" { print $1, $5 }'
}

# kafka_voter_count BOOTSTRAP: how many voters the KRaft quorum has (describe --status).
kafka_voter_count() {
    local status
    status="$(timeout 30 java -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.xml" -cp "$KAFKA_LIB/*" \
        org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$1" \
        --command-config "$KAFKA_CONF/admin.properties" describe --status 2>/dev/null)" || return 1
    printf '%s\n' "$status" | sed -n 's/^CurrentVoters:[[:space:]]*//p' | grep -o '"id":' | wc -l
}

# kafka_render_config TEMPLATE DIR [KEY=VALUE...]: DIR/server.properties from TEMPLATE, mode 600
# (it may hold secrets); redone on every start so template edits apply.
kafka_render_config() {
    local template="$1" dir="$2"
    shift 2
    mkdir -p "$dir/data" "$dir/logs"
    (umask 077 && render_template "$template" "$dir/server.properties" "$@")
}

# kafka_format_once NAME DIR CLUSTER_ID QUORUM_ARGS...: format DIR/data with StorageTool, writing
# the cluster id and the initial quorum (QUORUM_ARGS: --standalone, --initial-controllers ...)
# into it. It happens exactly once: a formatted dir (meta.properties) is never touched again.
kafka_format_once() {
    local name="$1" dir="$2" cluster_id="$3"
    shift 3
    [ -f "$dir/data/meta.properties" ] && return 0
    log "$name: formatting storage in $dir/data (cluster id $cluster_id)"
    kafka_tool kafka.tools.StorageTool format --config "$dir/server.properties" \
        --cluster-id "$cluster_id" "$@" \
        >>"$dir/logs/format.log" 2>&1 || {
        tail -n 20 "$dir/logs/format.log" >&2
        die "$name: storage format failed"
    }
}

# kafka_launch NAME DIR HEAP_OPTS: start the broker of DIR/server.properties in the background
# (spawn_detached), its logs under DIR/logs. HEAP_OPTS holds several JVM flags.
kafka_launch() {
    local name="$1" dir="$2" heap
    read -r -a heap <<<"$3"
    mark_logs "$dir/logs/stdout.log" "$dir/logs/server.log"
    spawn_detached "$name" "$dir/logs/stdout.log" \
        java "${heap[@]}" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$KAFKA_CONF/log4j2.xml" \
        -cp "$KAFKA_LIB/*" "$KAFKA_MAIN_CLASS" "$dir/server.properties"
    log "$name: started pid $(recorded_pid "$name"), waiting for it to answer"
}

# kafka_show_logs DIR: this launch's last log lines of the node in DIR.
kafka_show_logs() { show_new_log_lines 30 "$1/logs/stdout.log" "$1/logs/server.log"; }
