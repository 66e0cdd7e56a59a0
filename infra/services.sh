#!/usr/bin/env bash
# All backing services at once. Usage: services.sh {start|stop|status} [service...]
# Services: cassandra kafka redis (default: all). With a Docker engine they run from the
# repo's compose file; otherwise as local processes through infra/<service>.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ALL=(cassandra kafka redis)   # start order: slowest first, so it overlaps the others

# Readiness deadlines when waiting on Docker containers.
declare -A READY_TIMEOUT=([cassandra]=240 [kafka]=120 [redis]=30)

cmd="${1:-}"
[ $# -gt 0 ] && shift
for svc in "$@"; do
    [ -n "${READY_TIMEOUT[$svc]:-}" ] || die "unknown service '$svc' (known: ${ALL[*]})"
done
# Requested services, always in ALL's order whatever order they were named in.
SERVICES=()
for svc in "${ALL[@]}"; do
    if [ $# -eq 0 ] || [[ " $* " == *" $svc "* ]]; then SERVICES+=("$svc"); fi
done

docker_engine() { command -v docker >/dev/null && timeout 15 docker info >/dev/null 2>&1; }

start_docker() {
    local svc failed=()
    log "Docker engine found: docker compose up -d ${SERVICES[*]}"
    (cd "$REPO_DIR" && docker compose up -d "${SERVICES[@]}")
    # The service scripts' status does the same real readiness check for containers.
    for svc in "${SERVICES[@]}"; do
        wait_until "${READY_TIMEOUT[$svc]}" "$svc to answer" bash "$INFRA_DIR/$svc.sh" status || failed+=("$svc")
    done
    [ ${#failed[@]} -eq 0 ] || die "not ready: ${failed[*]}"
}

# All in parallel (Cassandra launched first); each script does its own readiness wait.
start_local() {
    local svc failed=() t0="$EPOCHREALTIME"
    declare -A pids=()
    for svc in "${SERVICES[@]}"; do
        bash "$INFRA_DIR/$svc.sh" start &
        pids[$svc]=$!
    done
    for svc in "${SERVICES[@]}"; do
        wait "${pids[$svc]}" || failed+=("$svc")
    done
    [ ${#failed[@]} -eq 0 ] || die "failed to start: ${failed[*]} (see the messages above)"
    log "all ready (${SERVICES[*]}) in $(elapsed "$t0")s"
}

stop_all() {
    local i svc failed=()
    # Local scripts only ever stop PIDs they started, so this is safe in Docker mode too.
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        svc="${SERVICES[$i]}"
        bash "$INFRA_DIR/$svc.sh" stop || failed+=("$svc")
    done
    if docker_engine; then
        (cd "$REPO_DIR" && docker compose stop "${SERVICES[@]}") || failed+=(compose)
    fi
    [ ${#failed[@]} -eq 0 ] || die "failed to stop: ${failed[*]}"
}

status_all() {
    local svc rc=0
    for svc in "${SERVICES[@]}"; do
        bash "$INFRA_DIR/$svc.sh" status || rc=1
    done
    return "$rc"
}

case "$cmd" in
    start) if docker_engine; then start_docker; else start_local; fi ;;
    stop) stop_all ;;
    status) status_all ;;
    *) die "usage: $0 {start|stop|status} [${ALL[*]}]" ;;
esac
