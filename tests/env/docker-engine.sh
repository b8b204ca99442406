#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting one if needed.
#
#   tests/env/docker-engine.sh start      # last stdout line: "CLIENT [PID]", the docker client's
#                                         # path and, if this call started dockerd, its pid
#   tests/env/docker-engine.sh stop PID   # stops that dockerd (what the caller started, only)
set -euo pipefail

# shellcheck source=tests/env/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG=$STATE_DIR/dockerd.log
DOCKERD_PIDFILE=$STATE_DIR/dockerd.pid
START_TIMEOUT=60
STOP_TIMEOUT=30

usage() {
    printf 'usage: %s start | stop PID\n' "$0" >&2
    exit 2
}

engine_answers() {
    [[ -n ${DOCKER:-} ]] && "$DOCKER" info >/dev/null 2>&1
}

install_docker_io() {
    apt_install --no-install-recommends docker.io
}

# A zombie counts as gone: its parent (init) may never reap it.
process_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ${stat##*) } != Z* ]]
}

is_dockerd() {
    [[ $(cat "/proc/$1/comm" 2>/dev/null) == dockerd ]]
}

start_dockerd() {
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd --pidfile "$DOCKERD_PIDFILE" >"$DOCKERD_LOG" 2>&1 </dev/null &
    STARTED_PID=$!
    wait_until_ready "$STARTED_PID"
}

wait_until_ready() {
    local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if ! process_alive "$pid"; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up"
        fi
        ((SECONDS < deadline)) || die "dockerd not ready after ${START_TIMEOUT}s (see $DOCKERD_LOG)"
        sleep 0.5
    done
    log "dockerd ready (pid $pid)"
}

cmd_start() {
    STARTED_PID=
    DOCKER=$(docker_client || true)
    if engine_answers; then
        log "docker engine already answers"
    else
        if ! command -v dockerd >/dev/null || [[ -z $DOCKER ]]; then
            install_docker_io
            DOCKER=$(docker_client) || die "docker.io installed but no build-capable client found"
        fi
        # The package's own init script may have started an engine.
        engine_answers || start_dockerd
    fi
    printf '%s\n' "$DOCKER${STARTED_PID:+ $STARTED_PID}"
}

cmd_stop() {
    local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
    [[ $pid =~ ^[0-9]+$ ]] || usage
    if process_alive "$pid" && is_dockerd "$pid"; then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        while process_alive "$pid"; do
            ((SECONDS < deadline)) || die "dockerd (pid $pid) still running after ${STOP_TIMEOUT}s"
            sleep 0.5
        done
    fi
}

case ${1:-} in
    start) cmd_start ;;
    stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
    *) usage ;;
esac
