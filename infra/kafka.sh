#!/usr/bin/env bash
# Single-node Kafka 4.1 (KRaft, broker+controller) on 127.0.0.1:9092, run from jars that
# Maven fetches into $STATE_DIR/lib/kafka. Usage: kafka.sh {start|stop|status}
# status exits 0 only when a Kafka (ours or not) answers a real request on the port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=9092
CONTROLLER_PORT=9093
# SASL_SSL, for tests of the service's Kafka security settings (secrets in $DIR/secrets).
SECURED_PORT=9094
START_TIMEOUT=120
DIR="$(service_dir kafka)"
LIB="$STATE_DIR/lib/kafka"
CONF="$INFRA_DIR/kafka"

# Run a Kafka command-line class with quiet (stderr, WARN) logging.
kafka_tool() {
    java -Dlog4j2.configurationFile="$CONF/tools-log4j2.xml" -cp "$LIB/*" "$@"
}

# Ready = the admin API lists topics, which needs the broker up and unfenced, not just
# a listening socket. Bounded so a port that never answers cannot hang us.
kafka_ready() {
    port_open "$PORT" || return 1
    port_open "$SECURED_PORT" || return 1
    timeout 30 java -Dlog4j2.configurationFile="$CONF/tools-log4j2.xml" -cp "$LIB/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" \
        --command-config "$CONF/admin.properties" --list >/dev/null 2>&1
}

# Byte offsets of the logs when we launched, so a failure shows this run's lines only.
declare -A LOG_START=()

show_logs() {
    local f lines
    for f in "$DIR/logs/stdout.log" "$DIR/logs/server.log"; do
        lines="$(tail -c +$((${LOG_START[$f]:-0} + 1)) "$f" 2>/dev/null | tail -n 30)"
        [ -n "$lines" ] || continue
        log "last lines of $f:"
        printf '%s\n' "$lines" >&2
    done
}

# Formatting writes the cluster id and the single-voter quorum into the data dir. It
# happens exactly once: a formatted dir (meta.properties) is never touched again.
format_once() {
    if [ -f "$DIR/data/meta.properties" ]; then
        return 0
    fi
    [ -s "$DIR/cluster-id" ] || kafka_tool kafka.tools.StorageTool random-uuid >"$DIR/cluster-id"
    log "kafka: formatting storage in $DIR/data (cluster id $(cat "$DIR/cluster-id"))"
    kafka_tool kafka.tools.StorageTool format --standalone \
        --cluster-id "$(cat "$DIR/cluster-id")" --config "$DIR/server.properties" \
        >>"$DIR/logs/format.log" 2>&1 || { tail -n 20 "$DIR/logs/format.log" >&2; die "kafka: storage format failed"; }
}

# A random secret for this checkout's broker only (hex: safe inside sed and the JAAS line).
random_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# The SECURED listener's password and TLS key pair, made once and kept (mode 600 in a
# 700 directory): the tests read the password and the CA file from here.
make_secrets_once() {
    local secrets="$DIR/secrets"
    (umask 077 && mkdir -p "$secrets")
    [ -s "$secrets/sasl-password" ] || (umask 077 && random_secret >"$secrets/sasl-password")
    [ -s "$secrets/keystore-password" ] || (umask 077 && random_secret >"$secrets/keystore-password")
    if [ ! -s "$secrets/broker.pem" ]; then
        rm -f "$secrets/broker.p12"
        local password
        password="$(cat "$secrets/keystore-password")"
        (umask 077 && keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
            -dname CN=127.0.0.1 -ext SAN=IP:127.0.0.1,DNS:localhost -storetype PKCS12 \
            -keystore "$secrets/broker.p12" -storepass "$password" -keypass "$password" >/dev/null 2>&1 &&
            keytool -exportcert -rfc -alias broker -keystore "$secrets/broker.p12" -storepass "$password" \
                -file "$secrets/broker.pem" >/dev/null 2>&1) || die "kafka: keytool could not make the TLS key pair"
    fi
}

launch() {
    mkdir -p "$DIR/data" "$DIR/logs"
    make_secrets_once
    (umask 077 && sed -e "s|@DATA_DIR@|$DIR/data|" -e "s|@SECRETS_DIR@|$DIR/secrets|" \
        -e "s|@SASL_PASSWORD@|$(cat "$DIR/secrets/sasl-password")|" \
        -e "s|@KEYSTORE_PASSWORD@|$(cat "$DIR/secrets/keystore-password")|" \
        "$CONF/server.properties" >"$DIR/server.properties.new" && mv "$DIR/server.properties.new" "$DIR/server.properties")
    format_once
    local f
    for f in "$DIR/logs/stdout.log" "$DIR/logs/server.log"; do
        LOG_START[$f]="$(stat -c %s "$f" 2>/dev/null || echo 0)"
    done
    # KAFKA_HEAP_OPTS is left unquoted on purpose: it holds several JVM flags.
    # shellcheck disable=SC2086
    spawn_detached kafka "$DIR/logs/stdout.log" \
        java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$DIR/logs" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
        -cp "$LIB/*" kafka.Kafka "$DIR/server.properties"
    log "kafka: started pid $(recorded_pid kafka), waiting for it to answer"
}

start() {
    local t0="$EPOCHREALTIME" pid
    fetch_jars kafka "$CONF/pom.xml"
    if pid="$(running_pid kafka)"; then
        if kafka_ready; then
            log "kafka: already running (pid $pid), nothing to do"
            return 0
        fi
        log "kafka: our pid $pid is alive but not answering yet, waiting"
    elif port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
        kafka_ready || die "kafka: port $PORT or $CONTROLLER_PORT is taken by something that is not a working Kafka; free it and retry"
        log "kafka: reusing the Kafka already answering on 127.0.0.1:$PORT (not started by this script; stop will leave it alone)"
        return 0
    else
        launch
    fi
    wait_ready kafka "$START_TIMEOUT" kafka_ready || { show_logs; die "kafka: failed to start"; }
    log "kafka: ready on 127.0.0.1:$PORT (pid $(running_pid kafka)), start took $(elapsed "$t0")s"
}

stop() {
    stop_service_pid kafka 60
    if port_open "$PORT"; then
        log "kafka: port $PORT still answers: that Kafka was not started by this script, left alone"
    fi
}

status() {
    local pid
    fetch_jars kafka "$CONF/pom.xml"
    if pid="$(running_pid kafka)"; then
        kafka_ready || { echo "kafka: pid $pid alive but not answering on 127.0.0.1:$PORT (starting?)"; return 1; }
        echo "kafka: running (pid $pid) on 127.0.0.1:$PORT"
    elif kafka_ready; then
        echo "kafka: running on 127.0.0.1:$PORT (external, not started by this script)"
    else
        echo "kafka: not running"
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
