#!/usr/bin/env bash
# Loopback stand-ins for upstreams this machine cannot reach.
#
#   tests/env/standins.sh start-nginx-repo [SUITE[,SUITE...] [ARCH[,ARCH...]]]  # nginx.org apt repo + key
#   tests/env/standins.sh start-debian-archive                 # archive.debian.org proxy
#   tests/env/standins.sh stop NAME                            # nginx-repo | debian-archive
#   tests/env/standins.sh stop-all
#
# The start-* commands print shell assignments on stdout (everything else goes
# to stderr), so callers can do:  eval "$(tests/env/standins.sh start-nginx-repo)"
#   NGINX_REPO_URL=http://127.0.0.1:PORT/packages
#   NGINX_SIGNING_KEY_URL=http://127.0.0.1:PORT/keys/nginx_signing.key
#   NGINX_KEY_FINGERPRINTS=<40 hex digits>
#   DEBIAN_ARCHIVE_URL=http://127.0.0.1:PORT/debian
#   DEBIAN_ARCHIVE_SECURITY_URL=http://127.0.0.1:PORT/debian-security
# Servers listen on 127.0.0.1 only and keep NAME.{pid,port,log} in STATE_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${UWSGI_NGINX_STATE_DIR:-/var/tmp/uwsgi-nginx-test}"
export UWSGI_NGINX_STATE_DIR="$STATE_DIR"

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

loopback() { python3 "$HERE/loopback.py" "$@"; }

start_nginx_repo() {
    local suite="${1:-bullseye}" arches="${2:-$(dpkg --print-architecture)}" repo url fpr
    repo="$STATE_DIR/nginx-repo-${suite//,/-}-${arches//,/-}"
    # Stop first: the repository is rebuilt (new key) under the running server.
    loopback stop --name nginx-repo --state-dir "$STATE_DIR"
    bash "$HERE/nginx-repo.sh" "$suite" "$repo" "$arches" >&2
    fpr="$(cat "$repo/fingerprint")"
    url="$(loopback serve "$repo" --name nginx-repo --state-dir "$STATE_DIR")"
    echo "standins: nginx-repo ($suite; $arches) serving $repo at $url" >&2
    printf 'NGINX_REPO_URL=%s/packages\n' "$url"
    printf 'NGINX_SIGNING_KEY_URL=%s/keys/nginx_signing.key\n' "$url"
    printf 'NGINX_KEY_FINGERPRINTS=%s\n' "$fpr"
}

start_debian_archive() {
    local main security url
    read -r main security < <(loopback mirrors)
    url="$(loopback proxy "/debian=$main" "/debian-security=$security" \
        --name debian-archive --state-dir "$STATE_DIR")"
    echo "standins: debian-archive proxy at $url" >&2
    printf 'DEBIAN_ARCHIVE_URL=%s/debian\n' "$url"
    printf 'DEBIAN_ARCHIVE_SECURITY_URL=%s/debian-security\n' "$url"
}

main() {
    [[ $# -ge 1 ]] || usage
    local command="$1"; shift
    case "$command" in
        start-nginx-repo) start_nginx_repo "$@" ;;
        start-debian-archive) start_debian_archive ;;
        stop) [[ $# -eq 1 ]] || usage; loopback stop --name "$1" --state-dir "$STATE_DIR" ;;
        stop-all) loopback stop-all --state-dir "$STATE_DIR" ;;
        -h|--help|help) usage ;;
        *) echo "standins: unknown command: $command" >&2; usage ;;
    esac
}

main "$@"
