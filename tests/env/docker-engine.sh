#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting one if needed.
#
#   tests/env/docker-engine.sh start            # last stdout line: docker client path
#   tests/env/docker-engine.sh stop-if-started  # stops only a dockerd that `start` started
set -euo pipefail

# shellcheck source=tests/env/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG=$STATE_DIR/dockerd.log
DOCKERD_PIDFILE=$STATE_DIR/dockerd.pid
# Holds the pid of the dockerd this script started; absent if it started none.
STARTED_MARKER=$STATE_DIR/dockerd.started-by-docker-engine-sh
START_TIMEOUT=60
STOP_TIMEOUT=30

usage() {
    printf 'usage: %s start|stop-if-started\n' "$0" >&2
    exit 2
}

engine_answers() {
    [[ -n ${DOCKER:-} ]] && "$DOCKER" info >/dev/null 2>&1
}

install_docker_io() {
    log "installing docker.io from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends docker.io >&2
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
    local pid=$!
    printf '%s\n' "$pid" >"$STARTED_MARKER"
    wait_until_ready "$pid"
}

wait_until_ready() {
    local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if ! process_alive "$pid"; then
            rm -f "$STARTED_MARKER"
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up"
        fi
        ((SECONDS < deadline)) || die "dockerd not ready after ${START_TIMEOUT}s (see $DOCKERD_LOG)"
        sleep 0.5
    done
    log "dockerd ready (pid $pid)"
}

cmd_start() {
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
    printf '%s\n' "$DOCKER"
}

cmd_stop_if_started() {
    [[ -f $STARTED_MARKER ]] || return 0
    local pid deadline=$((SECONDS + STOP_TIMEOUT))
    pid=$(<"$STARTED_MARKER")
    if process_alive "$pid" && is_dockerd "$pid"; then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        while process_alive "$pid"; do
            ((SECONDS < deadline)) || die "dockerd (pid $pid) still running after ${STOP_TIMEOUT}s"
            sleep 0.5
        done
    fi
    rm -f "$STARTED_MARKER"
}

case ${1:-} in
    start) cmd_start ;;
    stop-if-started) cmd_stop_if_started ;;
    *) usage ;;
esac
