#!/usr/bin/env bash
# A production-shaped cluster on this one machine, as local processes, all on loopback:
#   kafka-1..3      Kafka 4.1, KRaft, each node broker and controller (node ids 1..3): brokers
#                   on 127.0.0.1:9192/9292/9392, controllers on :9193/9293/9393, a quorum of
#                   three voters, replication factor 3 and min.insync.replicas 2
#   cassandra-1..3  Cassandra 5.0 "leaderboard-cluster" on 127.0.0.1, .2 and .3 (CQL 9042 and
#                   storage 7000 on each address, JMX on 127.0.0.1:7199/7299/7399), seed
#                   127.0.0.1, joined one at a time
#   redis-1..6      a Redis Cluster on 127.0.0.1:7001..7006: three masters with a replica each
#   worker-1..2     the service (.venv/bin/python -m leaderboard_app worker) on web ports 6091
#                   and 6092, configured by $STATE_DIR/cluster/worker.env (written here)
# Each node keeps its config, data, logs and pid file under $STATE_DIR/cluster/<node>/ (a
# worker under $STATE_DIR/cluster/worker-<web port>/). Same rules as the single-node scripts
# (common.sh): jars from Maven Central, only recorded PIDs are ever signalled, a start finds
# what already runs and does not start it again, ready means a real request answered.
#
# Usage: cluster.sh start | stop | status
#        cluster.sh kill NODE         SIGKILL that node's recorded process; its data stays
#        cluster.sh start-node NODE   start that node again and wait until it is ready (and
#                                     has rejoined its cluster)
# NODE: kafka-1..3, cassandra-1..3, redis-1..6, worker-1..2.
# CLUSTER_WORKERS=N (0, 1 or 2; default 2): how many workers `start` starts (0: the stores only).
#
# The cluster and the single-node stack (infra/services.sh) share some ports (Cassandra's
# 127.0.0.1:9042, 7000 and 7199): start refuses, naming the ports, when anything it did not
# start holds one of them, rather than using it.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=lib-kafka.sh
source "$INFRA_DIR/lib-kafka.sh"
# shellcheck source=lib-cassandra.sh
source "$INFRA_DIR/lib-cassandra.sh"
# shellcheck source=lib-redis.sh
source "$INFRA_DIR/lib-redis.sh"

CLUSTER_DIR="$STATE_DIR/cluster"
WORKER_ENV="$CLUSTER_DIR/worker.env"
PYTHON="$REPO_DIR/.venv/bin/python"
WORKERS="${CLUSTER_WORKERS:-2}"

KAFKA_NODES=(kafka-1 kafka-2 kafka-3)
CASSANDRA_NODES=(cassandra-1 cassandra-2 cassandra-3)
REDIS_NODES=(redis-1 redis-2 redis-3 redis-4 redis-5 redis-6)
WORKER_NODES=(worker-1 worker-2)
WORKER_PORTS=(6091 6092)
ALL_NODES=("${KAFKA_NODES[@]}" "${CASSANDRA_NODES[@]}" "${REDIS_NODES[@]}" "${WORKER_NODES[@]}")

# Small heaps: nine JVMs' worth of cluster on one machine. Word-split (several flags).
KAFKA_HEAP="${CLUSTER_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
CASSANDRA_HEAP="${CLUSTER_CASSANDRA_HEAP_OPTS:--Xms128m -Xmx512m}"
# Cassandra waits RING_DELAY (30 s by default) twice while a node bootstraps, to hear of its
# peers' ring state through gossip; on loopback 5 s is plenty. It also waits for gossip to
# settle (8 s or more, twice per joining node): skipped, as the single node does, since start
# waits anyway until every node sees every other Up and Normal.
CASSANDRA_OPTS=("-Dcassandra.ring_delay_ms=${CLUSTER_CASSANDRA_RING_DELAY_MS:-5000}"
    -Dcassandra.skip_wait_for_gossip_to_settle=0)
CASSANDRA_CLUSTER_NAME=leaderboard-cluster
CASSANDRA_SEEDS=127.0.0.1:7000
# One token per node, a third of the Murmur3 ring apart.
CASSANDRA_TOKENS=(-9223372036854775808 -3074457345618258603 3074457345618258602)

# Deadlines (seconds) and SIGTERM grace periods before SIGKILL.
KAFKA_TIMEOUT=120
CASSANDRA_TIMEOUT=180 # until a node answers CQL
JOIN_TIMEOUT=120      # then until every live node sees it Up and Normal
REDIS_TIMEOUT=30
REDIS_CLUSTER_TIMEOUT=60
WORKER_TIMEOUT=180
declare -A STOP_GRACE=([kafka]=60 [cassandra]=60 [redis]=15 [worker]=30)
# The last Kafka node standing cannot finish a controlled shutdown (see stop_kafka).
KAFKA_LAST_GRACE=5

# --- nodes ----------------------------------------------------------------------------------

is_node() {
    case "$1" in
        kafka-[1-3] | cassandra-[1-3] | redis-[1-6] | worker-[1-2]) return 0 ;;
        *) return 1 ;;
    esac
}
node_kind() { printf '%s' "${1%-*}"; }
node_index() { printf '%s' "${1##*-}"; }
worker_port() { printf '%s' "${WORKER_PORTS[$(($(node_index "$1") - 1))]}"; }

# The node's service name for common.sh (pid file $STATE_DIR/<key>/pid) and its directory.
node_key() {
    case "$1" in
        worker-*) printf 'cluster/worker-%s' "$(worker_port "$1")" ;;
        *) printf 'cluster/%s' "$1" ;;
    esac
}
node_dir() { service_dir "$(node_key "$1")"; }

kafka_port() { printf '9%s92' "$(node_index "$1")"; }
kafka_controller_port() { printf '9%s93' "$(node_index "$1")"; }
cassandra_address() { printf '127.0.0.%s' "$(node_index "$1")"; }
cassandra_jmx_port() { printf '7%s99' "$(node_index "$1")"; }
redis_port() { printf '700%s' "$(node_index "$1")"; }

# Every HOST:PORT the node listens on (a Redis Cluster node also on its bus port, +10000).
node_ports() {
    case "$1" in
        kafka-*) echo "127.0.0.1:$(kafka_port "$1") 127.0.0.1:$(kafka_controller_port "$1")" ;;
        cassandra-*) echo "$(cassandra_address "$1"):9042 $(cassandra_address "$1"):7000 127.0.0.1:$(cassandra_jmx_port "$1")" ;;
        redis-*) echo "127.0.0.1:$(redis_port "$1") 127.0.0.1:$(($(redis_port "$1") + 10000))" ;;
        worker-*) echo "127.0.0.1:$(worker_port "$1")" ;;
    esac
}

# node_pid NODE: the node's recorded PID while that very process is alive and still runs
# what we started there (common.sh running_pid_of); otherwise fails.
node_pid() {
    local pattern
    case "$1" in
        kafka-*) pattern="$KAFKA_MAIN_CLASS" ;;
        cassandra-*) pattern="$CASSANDRA_MAIN_CLASS" ;;
        redis-*) pattern=redis-server ;;
        worker-*) pattern=leaderboard_app ;;
    esac
    running_pid_of "$(node_key "$1")" "$pattern"
}

# What listens on PORT, for the refusal message (ss names the process when we may see it).
port_holder() {
    command -v ss >/dev/null || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -nE 's/.*users:\(\("([^"]*)",pid=([0-9]+).*/by \1 (pid \2)/p' | head -n 1
}

# refuse_taken_ports NODE...: before anything starts, fail if anything holds a port of one
# of the nodes that are not running as ours (which would otherwise be found "ready", or
# crash at start-up).
refuse_taken_ports() {
    local node hostport taken=()
    for node in "$@"; do
        node_pid "$node" >/dev/null && continue
        for hostport in $(node_ports "$node"); do
            if port_open "${hostport##*:}" "${hostport%:*}"; then
                taken+=("$hostport, needed by $node, is in use $(port_holder "${hostport##*:}")")
            fi
        done
    done
    [ ${#taken[@]} -eq 0 ] && return 0
    printf '  %s\n' "${taken[@]}" >&2
    die "cluster: not starting: the ports above are held by processes this script did not start.
    The single-node stack (make services) uses some of the same ports (Cassandra on 127.0.0.1:9042,
    7000 and 7199): stop it with 'make stop', or free the ports, and retry."
}

# --- Kafka -----------------------------------------------------------------------------------

KAFKA_QUORUM="$CLUSTER_DIR/kafka-quorum"
kafka_bootstrap_controllers() { echo "127.0.0.1:9193,127.0.0.1:9293,127.0.0.1:9393"; }
kafka_bootstrap_brokers() { echo "127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392"; }
kafka_quorum_value() { sed -n "s/^$1=//p" "$KAFKA_QUORUM"; }

# The cluster id and the three voters (node id, controller endpoint, metadata directory id)
# that every node's storage is formatted with: made once, before any node is formatted.
kafka_quorum_once() {
    [ -s "$KAFKA_QUORUM" ] && return 0
    local node voters=()
    for node in "${KAFKA_NODES[@]}"; do
        [ -f "$(node_dir "$node")/data/meta.properties" ] &&
            die "kafka: $KAFKA_QUORUM is gone but $node's storage is formatted; to start the Kafka cluster afresh remove $CLUSTER_DIR/kafka-*"
    done
    for node in "${KAFKA_NODES[@]}"; do
        voters+=("$(node_index "$node")@127.0.0.1:$(kafka_controller_port "$node"):$(kafka_tool kafka.tools.StorageTool random-uuid)")
    done
    mkdir -p "$CLUSTER_DIR"
    printf 'CLUSTER_ID=%s\nINITIAL_CONTROLLERS=%s\n' "$(kafka_tool kafka.tools.StorageTool random-uuid)" \
        "$(IFS=,; echo "${voters[*]}")" >"$KAFKA_QUORUM.new"
    mv "$KAFKA_QUORUM.new" "$KAFKA_QUORUM"
}

# The node's server.properties, and its storage formatted (once).
kafka_node_prepare() {
    local node="$1" dir
    dir="$(node_dir "$node")"
    kafka_render_config "$KAFKA_CONF/cluster-server.properties" "$dir" \
        "NODE_ID=$(node_index "$node")" "BROKER_PORT=$(kafka_port "$node")" \
        "CONTROLLER_PORT=$(kafka_controller_port "$node")" \
        "BOOTSTRAP_CONTROLLERS=$(kafka_bootstrap_controllers)" "DATA_DIR=$dir/data"
    kafka_quorum_once
    kafka_format_once "$(node_key "$node")" "$dir" "$(kafka_quorum_value CLUSTER_ID)" \
        --initial-controllers "$(kafka_quorum_value INITIAL_CONTROLLERS)"
}

# A node is ready when, asked through its own broker port, the cluster lists it as a
# registered, unfenced broker.
kafka_node_ready() {
    kafka_broker_states "127.0.0.1:$(kafka_port "$1")" | grep -qx "$(node_index "$1") unfenced"
}

# The Kafka cluster is ready when the quorum has its three voters and, through each broker
# port, all three brokers are registered and unfenced.
kafka_cluster_ready() {
    local node
    [ "$(kafka_voter_count "$(kafka_bootstrap_brokers)")" = 3 ] || return 1
    for node in "${KAFKA_NODES[@]}"; do
        [ "$(kafka_broker_states "127.0.0.1:$(kafka_port "$node")" | grep -c ' unfenced$')" = 3 ] || return 1
    done
}

# sort_nodes READY NODE...: sort nodes into TO_LAUNCH (none of ours runs) and TO_WAIT (launched
# now, or ours and alive but not READY yet); ours that are READY are left alone.
sort_nodes() {
    local ready="$1" node pid
    shift
    TO_LAUNCH=()
    TO_WAIT=()
    for node in "$@"; do
        if pid="$(node_pid "$node")"; then
            if "$ready" "$node"; then
                log "$node: already running (pid $pid) and ready, nothing to do"
                continue
            fi
            log "$node: our pid $pid is alive but not ready yet, waiting"
        else
            TO_LAUNCH+=("$node")
        fi
        TO_WAIT+=("$node")
    done
}

# start_kafka NODE...: launch those not running (all at once, formatted first: the controller
# quorum needs a majority), then wait for each to be ready.
start_kafka() {
    local node t0="$EPOCHREALTIME"
    sort_nodes kafka_node_ready "$@"
    for node in "${TO_LAUNCH[@]}"; do
        kafka_node_prepare "$node"
    done
    for node in "${TO_LAUNCH[@]}"; do
        kafka_launch "$(node_key "$node")" "$(node_dir "$node")" "$KAFKA_HEAP"
    done
    for node in "${TO_WAIT[@]}"; do
        wait_ready "$(node_key "$node")" "$KAFKA_TIMEOUT" kafka_node_ready "$node" || {
            kafka_show_logs "$(node_dir "$node")"
            die "$node: failed to start"
        }
        log "$node: ready on 127.0.0.1:$(kafka_port "$node") (pid $(node_pid "$node")), unfenced, $(elapsed "$t0")s after launch"
    done
}

# --- Cassandra -------------------------------------------------------------------------------

cassandra_node_cql() { cql_ready "$(cassandra_address "$1")" 9042; }

cassandra_node_launch() {
    local node="$1" home
    home="$(node_dir "$node")"
    cassandra_render_config "$home" "CLUSTER_NAME=$CASSANDRA_CLUSTER_NAME" \
        "ADDRESS=$(cassandra_address "$node")" "SEEDS=$CASSANDRA_SEEDS" \
        "INITIAL_TOKEN=${CASSANDRA_TOKENS[$(($(node_index "$node") - 1))]}"
    cassandra_launch "$(node_key "$node")" "$home" "$(cassandra_jmx_port "$node")" "$CASSANDRA_HEAP" \
        "${CASSANDRA_OPTS[@]}"
}

# The live Cassandra nodes (ours, alive) have joined each other: each answers CQL, sees every
# live node Up and Normal (nodetool status through its JMX) and has the others in system.peers.
cassandra_joined() {
    local node other live=() up peers
    for node in "${CASSANDRA_NODES[@]}"; do
        node_pid "$node" >/dev/null && live+=("$node")
    done
    [ ${#live[@]} -gt 0 ] || return 1
    for node in "${live[@]}"; do
        peers="$(cql_peers "$(cassandra_address "$node")" 9042)" || return 1
        up="$(cassandra_up_normal "$(cassandra_jmx_port "$node")")" || return 1
        for other in "${live[@]}"; do
            grep -qx "$(cassandra_address "$other")" <<<"$up" || return 1
            [ "$other" = "$node" ] || grep -qx "$(cassandra_address "$other")" <<<"$peers" || return 1
        done
    done
}

cassandra_failed() {
    cassandra_show_logs "$(node_dir "$1")"
    die "$1: $2"
}

# start_cassandra NODE...: one node at a time, in order: a node is launched only once the
# live ones before it answer CQL and have joined each other (two nodes must never bootstrap
# at once), then waited for until it answers CQL and every live node sees it Up and Normal.
start_cassandra() {
    local node pid t0 unsettled=no
    for node in "$@"; do
        t0="$EPOCHREALTIME"
        if pid="$(node_pid "$node")"; then
            if cassandra_node_cql "$node" >/dev/null 2>&1; then
                log "$node: already running (pid $pid) and serving CQL, nothing to do"
                unsettled=yes # still, check below that it has joined
                continue
            fi
            log "$node: our pid $pid is alive but not serving CQL yet, waiting"
        else
            if [ "$unsettled" = yes ]; then
                wait_until "$JOIN_TIMEOUT" "the running Cassandra nodes to see each other Up and Normal" cassandra_joined ||
                    die "$node: not started, the running Cassandra nodes have not joined each other"
                unsettled=no
            fi
            cassandra_node_launch "$node"
        fi
        wait_ready "$(node_key "$node")" "$CASSANDRA_TIMEOUT" cassandra_node_cql "$node" ||
            cassandra_failed "$node" "failed to start (not serving CQL)"
        log "$node: serving CQL on $(cassandra_address "$node"):9042 after $(elapsed "$t0")s, waiting until every live node sees it Up and Normal"
        wait_ready "$(node_key "$node")" "$JOIN_TIMEOUT" cassandra_joined ||
            cassandra_failed "$node" "did not join the cluster"
        log "$node: joined (pid $(node_pid "$node")), $(elapsed "$t0")s after launch"
        unsettled=no
    done
    if [ "$unsettled" = yes ]; then
        wait_until "$JOIN_TIMEOUT" "the Cassandra nodes to see each other Up and Normal" cassandra_joined ||
            die "cassandra: the running nodes have not joined each other"
    fi
}

# --- Redis -----------------------------------------------------------------------------------

redis_node_launch() {
    local node="$1" dir
    dir="$(node_dir "$node")"
    redis_launch "$(node_key "$node")" "$dir" "$(redis_port "$node")" \
        --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 2000
}

redis_node_ready() { redis_ping "$(redis_port "$1")"; }

# redis_cluster_field PORT FIELD: a field of CLUSTER INFO as that node reports it.
redis_cluster_field() { redis_cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# A node that has never been part of a cluster: it knows only itself and serves no slot.
redis_node_fresh() {
    [ "$(redis_cluster_field "$(redis_port "$1")" cluster_known_nodes)" = 1 ] &&
        [ "$(redis_cluster_field "$(redis_port "$1")" cluster_slots_assigned)" = 0 ]
}

# redis_slot_owners PORT: the masters serving slots (node id and slot ranges), as that node
# sees them, one a line, sorted.
redis_slot_owners() {
    redis_cli "$1" cluster nodes 2>/dev/null | tr -d '\r' |
        awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { line = $1; for (i = 9; i <= NF; i++) line = line " " $i; print line }' |
        sort
}

# The Redis Cluster is ready when every live node (ours, alive) answers PING, reports the
# cluster ok (all 16384 slots served, six nodes known), and all agree on which masters serve
# which slots (a node started again may believe for a moment that it is still the master it was).
redis_cluster_ready() {
    local node port owners first=""
    for node in "${REDIS_NODES[@]}"; do
        node_pid "$node" >/dev/null || continue
        port="$(redis_port "$node")"
        redis_ping "$port" || return 1
        [ "$(redis_cluster_field "$port" cluster_state)" = ok ] || return 1
        [ "$(redis_cluster_field "$port" cluster_slots_assigned)" = 16384 ] || return 1
        [ "$(redis_cluster_field "$port" cluster_known_nodes)" = 6 ] || return 1
        owners="$(redis_slot_owners "$port")"
        [ -n "$owners" ] || return 1
        [ -z "$first" ] && first="$owners"
        [ "$owners" = "$first" ] || return 1
    done
    [ -n "$first" ]
}

# The cluster is created once, when all six nodes are new. Nodes started again later
# re-form it from their nodes.conf.
redis_create_once() {
    local node fresh=() live=() endpoints=()
    for node in "${REDIS_NODES[@]}"; do
        node_pid "$node" >/dev/null || continue
        live+=("$node")
        redis_node_fresh "$node" && fresh+=("$node")
    done
    [ ${#fresh[@]} -eq 0 ] && return 0
    if [ ${#fresh[@]} -ne ${#REDIS_NODES[@]} ]; then
        die "redis: ${fresh[*]} never joined the cluster the other nodes form (its nodes.conf is gone?).
    Add it by hand (redis-cli --cluster add-node ... --cluster-slave), or stop the cluster and
    remove $CLUSTER_DIR/redis-* to create the Redis Cluster afresh."
    fi
    for node in "${REDIS_NODES[@]}"; do endpoints+=("127.0.0.1:$(redis_port "$node")"); done
    log "redis: creating the cluster (3 masters, 1 replica each) on ${endpoints[*]}"
    timeout 120 redis-cli --cluster create "${endpoints[@]}" --cluster-replicas 1 --cluster-yes \
        >"$CLUSTER_DIR/redis-create.log" 2>&1 || {
        tail -n 30 "$CLUSTER_DIR/redis-create.log" >&2
        die "redis: redis-cli --cluster create failed (log: $CLUSTER_DIR/redis-create.log)"
    }
}

start_redis() {
    local node t0="$EPOCHREALTIME"
    sort_nodes redis_node_ready "$@"
    for node in "${TO_LAUNCH[@]}"; do
        redis_node_launch "$node"
    done
    for node in "${TO_WAIT[@]}"; do
        wait_ready "$(node_key "$node")" "$REDIS_TIMEOUT" redis_node_ready "$node" || {
            redis_show_logs "$(node_dir "$node")"
            die "$node: failed to start"
        }
    done
    mkdir -p "$CLUSTER_DIR"
    redis_create_once
    wait_until "$REDIS_CLUSTER_TIMEOUT" "the Redis Cluster to report ok on every node" redis_cluster_ready || {
        for node in "$@"; do redis_show_logs "$(node_dir "$node")"; done
        die "redis: the cluster is not ok (redis-cli -p 7001 cluster info / cluster nodes)"
    }
    log "redis: cluster ok on ${*} ($(elapsed "$t0")s)"
}

# --- workers ---------------------------------------------------------------------------------

# The workers' settings (KEY=VALUE lines); the cluster tests read the same file.
write_worker_env() {
    mkdir -p "$CLUSTER_DIR"
    cat >"$WORKER_ENV.new" <<EOF
BROKER_URL=kafka://127.0.0.1:9192;kafka://127.0.0.1:9292;kafka://127.0.0.1:9392
TOPIC_REPLICATION_FACTOR=3
LEADERBOARD_MIN_INSYNC_REPLICAS=2
CASSANDRA_CONTACT_POINTS=127.0.0.1,127.0.0.2,127.0.0.3
CASSANDRA_REPLICATION_FACTOR=3
REDIS_URL=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003
REDIS_CLUSTER=true
BROKER_SESSION_TIMEOUT=10
LEADERBOARD_RATE_LIMIT=0
EOF
    mv "$WORKER_ENV.new" "$WORKER_ENV"
}

worker_ready() {
    [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$(worker_port "$1")/ready")" = 200 ]
}

# The worker runs with worker.env's settings (on top of this environment), its own web port
# and data directory, from the repository (as `make run` does).
worker_launch() {
    local node="$1" dir port line settings=()
    dir="$(node_dir "$node")"
    port="$(worker_port "$node")"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in '' | '#'*) continue ;; esac
        settings+=("$line")
    done <"$WORKER_ENV"
    mkdir -p "$dir/data"
    mark_logs "$dir/worker.log"
    (cd "$REPO_DIR" && spawn_detached "$(node_key "$node")" "$dir/worker.log" \
        env "${settings[@]}" "WEB_PORT=$port" "APP_DATADIR=$dir/data" PYTHONUNBUFFERED=1 \
        "$PYTHON" -m leaderboard_app worker -l info --web-port "$port")
    log "$node: started pid $(recorded_pid "$(node_key "$node")") on web port $port, waiting for /ready (log $dir/worker.log)"
}

start_workers() {
    local node t0="$EPOCHREALTIME"
    [ -x "$PYTHON" ] || die "workers: $PYTHON not found: run 'make install' (or CLUSTER_WORKERS=0 for the stores only)"
    write_worker_env  # always: this script owns its content
    sort_nodes worker_ready "$@"
    for node in "${TO_LAUNCH[@]}"; do
        worker_launch "$node"
    done
    for node in "${TO_WAIT[@]}"; do
        wait_ready "$(node_key "$node")" "$WORKER_TIMEOUT" worker_ready "$node" || {
            show_new_log_lines 40 "$(node_dir "$node")/worker.log"
            die "$node: GET http://127.0.0.1:$(worker_port "$node")/ready did not answer 200"
        }
        log "$node: ready on http://127.0.0.1:$(worker_port "$node") (pid $(node_pid "$node")), $(elapsed "$t0")s after launch"
    done
}

# --- the whole cluster -----------------------------------------------------------------------

preflight() {
    local tool
    for tool in java python3 curl timeout; do
        command -v "$tool" >/dev/null || die "$tool not found (the cluster needs java 17, python3, curl, coreutils)"
    done
    redis_ensure_installed
    kafka_fetch_jars
    cassandra_fetch_jars
}

# Sum of VmRSS over the recorded, live PIDs: total and per kind of node.
report_footprint() {
    local node pid kb count=0 total=0
    declare -A by_kind=([kafka]=0 [cassandra]=0 [redis]=0 [worker]=0)
    for node in "${ALL_NODES[@]}"; do
        pid="$(node_pid "$node")" || continue
        kb="$(rss_kb "$pid")"
        count=$((count + 1))
        total=$((total + kb))
        by_kind[$(node_kind "$node")]=$((by_kind[$(node_kind "$node")] + kb))
    done
    log "cluster: $count processes, resident memory (VmRSS) $((total / 1024)) MiB: kafka $((by_kind[kafka] / 1024)), cassandra $((by_kind[cassandra] / 1024)), redis $((by_kind[redis] / 1024)), workers $((by_kind[worker] / 1024)) MiB"
}

start() {
    local t0="$EPOCHREALTIME" node kind failed_groups=() to_launch=() workers=()
    [[ "$WORKERS" =~ ^[0-2]$ ]] || die "CLUSTER_WORKERS must be 0, 1 or 2 (got '$WORKERS')"
    workers=("${WORKER_NODES[@]:0:$WORKERS}")
    refuse_taken_ports "${KAFKA_NODES[@]}" "${CASSANDRA_NODES[@]}" "${REDIS_NODES[@]}" "${workers[@]}"
    preflight
    for node in "${KAFKA_NODES[@]}" "${CASSANDRA_NODES[@]}" "${REDIS_NODES[@]}" "${workers[@]}"; do
        node_pid "$node" >/dev/null || to_launch+=("$node")
    done
    mkdir -p "$CLUSTER_DIR"
    write_worker_env
    # The three stores at once, Cassandra (the slowest, one node at a time) first.
    declare -A group=()
    (start_cassandra "${CASSANDRA_NODES[@]}") &
    group[cassandra]=$!
    (start_kafka "${KAFKA_NODES[@]}" &&
        wait_until 60 "all three Kafka brokers unfenced and three voters" kafka_cluster_ready &&
        log "kafka: 3 brokers unfenced, 3 voters ($(elapsed "$t0")s)") &
    group[kafka]=$!
    (start_redis "${REDIS_NODES[@]}") &
    group[redis]=$!
    for kind in cassandra kafka redis; do
        wait "${group[$kind]}" || failed_groups+=("$kind")
    done
    [ ${#failed_groups[@]} -eq 0 ] || die "cluster: failed to start: ${failed_groups[*]} (see above). What did start is still running: 'bash infra/cluster.sh status', 'bash infra/cluster.sh stop'"
    log "cluster: stores ready after $(elapsed "$t0")s"
    if [ ${#workers[@]} -gt 0 ]; then
        start_workers "${workers[@]}"
    else
        log "cluster: CLUSTER_WORKERS=0, no workers started (their settings: $WORKER_ENV)"
    fi
    if [ ${#to_launch[@]} -eq 0 ]; then
        log "cluster: already running, nothing to do ($(elapsed "$t0")s)"
    else
        log "cluster: ready; the whole start took $(elapsed "$t0")s (launched: ${to_launch[*]})"
    fi
    report_footprint
}

start_node() {
    local node="$1" t0="$EPOCHREALTIME"
    refuse_taken_ports "$node"
    preflight
    case "$node" in
        kafka-*) start_kafka "$node" ;;
        cassandra-*) start_cassandra "$node" ;;
        redis-*) start_redis "$node" ;;
        worker-*) start_workers "$node" ;;
    esac
    log "$node: start-node took $(elapsed "$t0")s"
}

# SIGKILL the node's recorded process only; its data, config and logs stay.
kill_node() {
    local node="$1" pid
    if ! pid="$(node_pid "$node")"; then
        log "$node: not running (nothing of ours to kill)"
        return 0
    fi
    log "$node: SIGKILL pid $pid (its data stays)"
    kill -KILL "$pid"
    wait_until 10 "$node's pid $pid to exit" test ! -e "/proc/$pid" || die "$node: pid $pid survived SIGKILL"
    rm -f "$(pid_file "$(node_key "$node")")"
}

# stop_nodes NODE...: SIGTERM (then SIGKILL after the grace period) the recorded PIDs, all at once.
stop_nodes() {
    local node pid stopping=() failed=0
    for node in "$@"; do
        node_pid "$node" >/dev/null || true # forget a pid file that no longer names our process
        stop_service_pid "$(node_key "$node")" "${STOP_GRACE[$(node_kind "$node")]}" &
        stopping+=($!)
    done
    for pid in "${stopping[@]}"; do wait "$pid" || failed=1; done
    return "$failed"
}

# The Kafka nodes are brokers and controllers in one process, and a broker stopping with
# SIGTERM first waits for the controllers to approve its controlled shutdown (its partitions'
# leadership handed over), which needs a quorum: two of the three. So all nodes but one stop
# together while the last one keeps the quorum alive; that last node then has no quorum left
# to approve it and would wait five minutes: it gets a short grace period before SIGKILL (its
# log segments are written, the next start recovers them).
stop_kafka() {
    local node live=()
    for node in "${KAFKA_NODES[@]}"; do
        node_pid "$node" >/dev/null && live+=("$node")
    done
    if [ ${#live[@]} -gt 1 ]; then
        stop_nodes "${live[@]:1}" || return 1
    fi
    if [ ${#live[@]} -gt 0 ]; then
        log "${live[0]}: the last Kafka node: no controller quorum is left to approve its controlled shutdown, SIGKILL after ${KAFKA_LAST_GRACE}s"
        stop_service_pid "$(node_key "${live[0]}")" "$KAFKA_LAST_GRACE" || return 1
    fi
    stop_nodes "${KAFKA_NODES[@]}" >/dev/null 2>&1 # forget the pid files of dead nodes
}

stop() {
    local t0="$EPOCHREALTIME" failed=0 kind
    declare -A group=()
    # The workers first, so that they do not watch their stores vanish; then the stores.
    stop_nodes "${WORKER_NODES[@]}" || failed=1
    stop_kafka &
    group[kafka]=$!
    stop_nodes "${CASSANDRA_NODES[@]}" &
    group[cassandra]=$!
    stop_nodes "${REDIS_NODES[@]}" &
    group[redis]=$!
    for kind in kafka cassandra redis; do
        wait "${group[$kind]}" || failed=1
    done
    [ "$failed" = 0 ] || die "cluster: some nodes could not be stopped (see above)"
    log "cluster: stopped ($(elapsed "$t0")s)"
}

# One line per node; exits 0 only when every store node and the first CLUSTER_WORKERS
# workers are running and ready.
status() {
    local node pid rc=0 line states="" view="" viewer="" port role state total=0 kb
    [[ "$WORKERS" =~ ^[0-2]$ ]] || WORKERS=2
    # Kafka: the brokers' states as one live broker reports them.
    for node in "${KAFKA_NODES[@]}"; do
        node_pid "$node" >/dev/null || continue
        states="$(kafka_broker_states "127.0.0.1:$(kafka_port "$node")")" && [ -n "$states" ] && break
    done
    # Cassandra: Up/Down and Normal/Joining/... as one node answering CQL sees the ring.
    for node in "${CASSANDRA_NODES[@]}"; do
        if ! node_pid "$node" >/dev/null || ! cassandra_node_cql "$node" >/dev/null 2>&1; then continue; fi
        view="$(nodetool "$(cassandra_jmx_port "$node")" status 2>/dev/null | awk '$1 ~ /^[UD][NJLM]$/ { print $2, $1 }')" &&
            [ -n "$view" ] && { viewer="$node"; break; }
    done
    for node in "${ALL_NODES[@]}"; do
        if ! pid="$(node_pid "$node")"; then
            case "$node" in
                worker-*) [ "$(node_index "$node")" -le "$WORKERS" ] && rc=1 ;;
                *) rc=1 ;;
            esac
            printf '%-12s not running\n' "$node"
            continue
        fi
        kb="$(rss_kb "$pid")"
        total=$((total + kb))
        line="$(printf '%-12s running (pid %s, %s MiB)' "$node" "$pid" "$((kb / 1024))")"
        case "$node" in
            kafka-*)
                state="$(awk -v id="$(node_index "$node")" '$1 == id { print $2 }' <<<"$states")"
                [ -n "$states" ] || state="state unknown (no broker answered)"
                line+=" broker 127.0.0.1:$(kafka_port "$node") ${state:-not registered}"
                [ "$state" = unfenced ] || rc=1
                ;;
            cassandra-*)
                if cassandra_node_cql "$node" >/dev/null 2>&1; then
                    line+=" CQL $(cassandra_address "$node"):9042 ready"
                    line+=", peers $(cql_peers "$(cassandra_address "$node")" 9042 2>/dev/null | sort | paste -sd, -)"
                else
                    line+=" CQL $(cassandra_address "$node"):9042 not answering"
                    rc=1
                fi
                state="$(awk -v a="$(cassandra_address "$node")" '$1 == a { print $2 }' <<<"$view")"
                line+=", ${state:-unknown} (as $viewer sees it)"
                [ "$state" = UN ] || rc=1
                ;;
            redis-*)
                port="$(redis_port "$node")"
                role="$(redis_cli "$port" role 2>/dev/null | head -n 1)"
                state="$(redis_cluster_field "$port" cluster_state)"
                line+=" 127.0.0.1:$port ${role:-not answering}, cluster_state ${state:-unknown}"
                [ "$state" = ok ] || rc=1
                ;;
            worker-*)
                port="$(worker_port "$node")"
                state="$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$port/ready" || true)"
                line+=" http://127.0.0.1:$port/ready ${state:-000}"
                [ "$state" = 200 ] || [ "$(node_index "$node")" -gt "$WORKERS" ] || rc=1
                ;;
        esac
        printf '%s\n' "$line"
    done
    printf '%-12s %s MiB resident (VmRSS of the running nodes)\n' total "$((total / 1024))"
    return "$rc"
}

cmd="${1:-}"
case "$cmd" in
    start | start-node | kill)
        if [ "$cmd" != start ]; then
            if [ $# -ne 2 ] || ! is_node "$2"; then die "usage: $0 $cmd NODE (kafka-1..3, cassandra-1..3, redis-1..6, worker-1..2)"; fi
        fi
        ;;
esac
case "$cmd" in
    # Two concurrent starts must not both launch; -o: the services must not inherit the lock.
    start) mkdir -p "$CLUSTER_DIR" && exec flock -o "$CLUSTER_DIR/start.lock" bash "${BASH_SOURCE[0]}" locked-start ;;
    start-node) mkdir -p "$CLUSTER_DIR" && exec flock -o "$CLUSTER_DIR/start.lock" bash "${BASH_SOURCE[0]}" locked-start-node "$2" ;;
    locked-start) start ;;
    locked-start-node) start_node "$2" ;;
    kill) kill_node "$2" ;;
    stop | status) "$cmd" ;;
    *) die "usage: $0 {start|stop|status} | {kill|start-node} NODE" ;;
esac
