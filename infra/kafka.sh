#!/usr/bin/env bash
# Single-node Kafka 4.1 (KRaft, broker+controller) on 127.0.0.1:9092, run from jars that
# Maven fetches into $STATE_DIR/lib/kafka. Usage: kafka.sh {start|stop|status}
# status exits 0 only when a Kafka (ours or not) answers a real request on the port.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=lib-kafka.sh
source "$INFRA_DIR/lib-kafka.sh"

PORT=9092
CONTROLLER_PORT=9093
# SASL_SSL, for tests of the service's Kafka security settings (secrets in $DIR/secrets).
SECURED_PORT=9094
START_TIMEOUT=120
DIR="$(service_dir kafka)"

# Ready = the admin API lists topics (lib-kafka.sh), and the SASL_SSL listener is open.
kafka_ready() {
    port_open "$PORT" || return 1
    port_open "$SECURED_PORT" || return 1
    kafka_lists_topics "127.0.0.1:$PORT"
}

# Formatting writes the cluster id and the single-voter quorum into the data dir, once.
format_once() {
    [ -f "$DIR/data/meta.properties" ] && return 0
    [ -s "$DIR/cluster-id" ] || kafka_tool kafka.tools.StorageTool random-uuid >"$DIR/cluster-id"
    kafka_format_once kafka "$DIR" "$(cat "$DIR/cluster-id")" --standalone
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
    kafka_render_config "$KAFKA_CONF/server.properties" "$DIR" \
        "DATA_DIR=$DIR/data" "SECRETS_DIR=$DIR/secrets" \
        "SASL_PASSWORD=$(cat "$DIR/secrets/sasl-password")" \
        "KEYSTORE_PASSWORD=$(cat "$DIR/secrets/keystore-password")"
    format_once
    # KAFKA_HEAP_OPTS holds several JVM flags.
    kafka_launch kafka "$DIR" "${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
}

start() {
    local t0="$EPOCHREALTIME" pid
    kafka_fetch_jars
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
    wait_ready kafka "$START_TIMEOUT" kafka_ready || { kafka_show_logs "$DIR"; die "kafka: failed to start"; }
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
    kafka_fetch_jars
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
