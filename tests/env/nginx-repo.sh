#!/usr/bin/env bash
# Build a signed apt repository in nginx.org's layout, holding for each Debian
# suite one `nginx` package repacked from that suite's nginx-core (bookworm on:
# nginx) + nginx-common.
#
#   tests/env/nginx-repo.sh SUITE[,SUITE...] OUTDIR [ARCH[,ARCH...]]
#   tests/env/nginx-repo.sh bullseye,bookworm,trixie OUTDIR amd64,arm64
#
# ARCH: Debian architectures, nginx.org's amd64 and arm64 (default: the host's).
#
# Result (a loopback stand-in for https://nginx.org/packages and its key), for
# every SUITE, all signed by one key as nginx.org's are:
#   OUTDIR/packages/debian/dists/SUITE/{Release,InRelease,Release.gpg}
#   OUTDIR/packages/debian/dists/SUITE/nginx/binary-ARCH/Packages{,.gz}
#     (listing SUITE's package only)
#   OUTDIR/packages/debian/pool/nginx/n/nginx/nginx_<ver>-1~SUITE_ARCH.deb
#     (with nginx.org's systemd unit, nginx.service, and no maintainer scripts:
#     installing it starts nothing)
#   OUTDIR/packages/mainline/debian/...          (same again, mainline channel)
#   OUTDIR/keys/nginx_signing.key                (armored public key)
#   OUTDIR/fingerprint                           (40 upper-case hex digits)
#
# The Debian .debs, the newest version the mirror serves for ARCH (not always
# the one its indexes list), come from the host's configured Debian mirror (read
# from the host apt configuration at run time) through a private apt
# configuration, so the host's apt state is untouched; they are cached in
# ${UWSGI_NGINX_STATE_DIR:-/var/tmp/uwsgi-nginx-test}/debs/SUITE-ARCH.
# A fresh throwaway signing key is generated on every run and its private part
# deleted afterwards. All logging goes to stderr; nothing is printed on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/env/lib.sh
. "$HERE/lib.sh"  # STATE_DIR, apt_install (log and die are this script's own, below)
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The architecture being packaged (main's loop sets it), and all of them (the Release's).
ARCH=
ARCHES=()
WORK=""

log() { printf 'nginx-repo: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ -d "$WORK/gnupg" ]]; then
            gpgconf --homedir "$WORK/gnupg" --kill all >/dev/null 2>&1 || true
        fi
        rm -rf "$WORK"
    fi
}

require_tools() {
    local missing=()
    command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
    command -v gpg >/dev/null || missing+=(gnupg)
    [[ -r "$DEBIAN_KEYRING" ]] || missing+=(debian-archive-keyring)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
}

# --- 1. Debian's nginx binary package and nginx-common for SUITE -----------

# The package holding /usr/sbin/nginx: nginx-core up to bullseye; from
# bookworm on nginx-core is a transitional "all" package and `nginx` has it.
binary_deb() {
    local cache="$1" deb
    for deb in "$cache"/nginx-core_*_"$ARCH".deb "$cache"/nginx_*_"$ARCH".deb; do
        [[ -f "$deb" ]] && { printf '%s\n' "$deb"; return 0; }
    done
    return 1
}

common_deb() {
    compgen -G "$1/nginx-common_*_all.deb" | head -n1
}

cached_debs_present() {
    binary_deb "$1" >/dev/null && common_deb "$1" >/dev/null
}

# Private apt configuration: own sources, lists, cache; empty dpkg status.
#   private_apt ROOT apt-get|apt-cache ARG...
private_apt() {
    local root="$1" command="$2"; shift 2
    "$command" \
        -o Dir::Etc::SourceList="$root/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::PreferencesParts="$root/preferences.d" \
        -o Dir::State::Lists="$root/lists" \
        -o Dir::Cache="$root/cache" \
        -o Dir::State::status=/dev/null \
        -o APT::Architecture="$ARCH" \
        -o APT::Sandbox::User=root \
        -o Acquire::Check-Valid-Until=false \
        -o Acquire::Languages=none \
        "$@"
}

# The versions of nginx-core the package lists have for ARCH, newest first (nginx, nginx-core
# and nginx-common share their source's version).
nginx_versions() {
    private_apt "$1" apt-cache madison nginx-core | awk -F' *[|] *' '!seen[$2]++ { print $2 }'
}

download_debian_debs() {
    local suite="$1" cache="$2" root="$WORK/apt-$1-$ARCH" main security
    read -r main security < <(python3 "$HERE/loopback.py" mirrors)
    mkdir -p "$root/lists/partial" "$root/cache/archives/partial" \
        "$root/preferences.d" "$root/download"
    cat >"$root/sources.list" <<EOF
deb [signed-by=$DEBIAN_KEYRING] $main $suite main
deb [signed-by=$DEBIAN_KEYRING] $security $suite-security main
EOF
    log "fetching $suite package lists from the host's Debian mirror"
    private_apt "$root" apt-get -qq update >&2
    # The newest version whose three packages the mirror serves for ARCH, not just the one its
    # indexes list: a partial mirror may carry an index without the pool behind it (bullseye-
    # security's arm64 .debs, whose index lists nginx-core 1.18.0-6.1+deb11u8 for arm64).
    local version downloaded=
    for version in $(nginx_versions "$root"); do
        log "downloading nginx, nginx-core and nginx-common $version ($suite, $ARCH)"
        rm -rf "${root:?}/download" && mkdir "$root/download"
        if (cd "$root/download" && private_apt "$root" apt-get -qq download \
                "nginx=$version" "nginx-core=$version" "nginx-common=$version" >&2); then
            downloaded=$version
            break
        fi
        log "the mirror does not serve $version for $ARCH: trying the version before it"
    done
    [[ -n "$downloaded" ]] || die "the mirror serves no version of nginx for $ARCH in $suite"
    cached_debs_present "$root/download" \
        || die "no nginx binary package among: $(ls "$root/download")"
    mkdir -p "$cache"
    rm -f "$cache"/*.deb
    mv "$root/download"/*.deb "$cache/"
}

# --- 2. Repack into one nginx.org-style `nginx` package ---------------------

upstream_version() {  # 1.18.0-6.1+deb11u8 -> 1.18.0 ; 2:1.2-3 -> 1.2
    local v="${1#*:}"
    printf '%s\n' "${v%-*}"
}

# The binary package's Depends without nginx-common and libnginx-mod-* modules.
filtered_depends() {
    local deb="$1"
    dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/ *$//' \
        | grep -v -E '^(nginx-common|libnginx-mod-)' | paste -sd, | sed 's/,/, /g'
}

drop_debian_specifics() {
    local root="$1"
    rm -rf "$root/etc/nginx/sites-available" "$root/etc/nginx/sites-enabled" \
        "$root/etc/nginx/modules-available" "$root/etc/nginx/modules-enabled" \
        "$root/var/www" "$root/usr/share/nginx/modules" "$root/usr/share/lintian"
}

write_nginx_conf() {  # nginx.org's nginx.conf, but running workers as www-data
    cat >"$1/etc/nginx/nginx.conf" <<'EOF'
# nginx.conf of the LOCAL TEST STAND-IN for nginx.org's package
# (nginx.org's own uses `user nginx;`; this one uses Debian's www-data).
user  www-data;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
EOF
}

write_default_site() {  # nginx.org's conf.d/default.conf and welcome pages
    local root="$1"
    mkdir -p "$root/etc/nginx/conf.d" "$root/usr/share/nginx/html"
    cat >"$root/etc/nginx/conf.d/default.conf" <<'EOF'
server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
    cat >"$root/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. (Local test stand-in for the nginx.org package.)</p>
</body>
</html>
EOF
    cat >"$root/usr/share/nginx/html/50x.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>Error</title></head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.</p>
</body>
</html>
EOF
}

write_systemd_unit() {  # nginx.org's nginx.service, in place of nginx-common's
    local root="$1" unit
    # Where the Debian package has it (/lib up to bookworm, /usr/lib from trixie on).
    unit="$(cd "$root" && find lib usr/lib -path '*/systemd/system/nginx.service' 2>/dev/null | head -n1 || true)"
    unit="${unit:-lib/systemd/system/nginx.service}"
    mkdir -p "$root/$(dirname "$unit")"
    cat >"$root/$unit" <<'EOF'
[Unit]
Description=nginx - high performance web server
Documentation=https://nginx.org/en/docs/
After=network-online.target remote-fs.target nss-lookup.target
Wants=network-online.target

[Service]
Type=forking
PIDFile=/run/nginx.pid
ExecStart=/usr/sbin/nginx -c ${CONFFILE}
ExecReload=/bin/sh -c "/bin/kill -s HUP $(/bin/cat /run/nginx.pid)"
ExecStop=/bin/sh -c "/bin/kill -s TERM $(/bin/cat /run/nginx.pid)"
Environment="CONFFILE=/etc/nginx/nginx.conf"
EnvironmentFile=-/etc/default/nginx

[Install]
WantedBy=multi-user.target
EOF
}

write_control() {
    local root="$1" version="$2" depends="$3" size
    size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    mkdir -p "$root/DEBIAN"
    cat >"$root/DEBIAN/control" <<EOF
Package: nginx
Version: $version
Architecture: $ARCH
Maintainer: uwsgi-nginx test stand-in <nginx-standin@localhost>
Installed-Size: $size
Depends: $depends
Conflicts: nginx-common, nginx-core, nginx-full, nginx-light, nginx-extras
Replaces: nginx-common, nginx-core
Provides: httpd
Section: httpd
Priority: optional
Homepage: https://nginx.org
Description: high performance web server (LOCAL TEST STAND-IN)
 Debian's nginx-core and nginx-common repacked into one package laid out like
 the nginx.org package, served from a loopback apt repository for tests.
 Not the real nginx.org package.
EOF
    (cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
}

build_package() {
    local cache="$1" suite="$2" out="$3" core common upstream version root
    core="$(binary_deb "$cache")" || die "no nginx binary package in $cache"
    common="$(common_deb "$cache")" || die "no nginx-common package in $cache"
    upstream="$(upstream_version "$(dpkg-deb -f "$core" Version)")"
    version="${upstream}-1~${suite}"
    root="$WORK/pkgroot"
    rm -rf "$root" && mkdir -p "$root"
    dpkg-deb -x "$common" "$root"
    dpkg-deb -x "$core" "$root"
    drop_debian_specifics "$root"
    write_nginx_conf "$root"
    write_default_site "$root"
    write_systemd_unit "$root"
    mkdir -p "$root/var/log/nginx" "$root/var/lib/nginx" "$root/var/cache/nginx"
    write_control "$root" "$version" "$(filtered_depends "$core")"
    mkdir -p "$out"
    dpkg-deb --root-owner-group -Zxz -b "$root" "$out/nginx_${version}_${ARCH}.deb" >/dev/null
    log "built nginx_${version}_${ARCH}.deb (from $(basename "$core"))"
}

# --- 3. Repository metadata and signing -------------------------------------

make_signing_key() {  # needs GNUPGHOME set; prints the primary fingerprint
    mkdir -m 700 "$GNUPGHOME"
    echo "trust-model always" >"$GNUPGHOME/gpg.conf"
    gpg --batch --quiet --passphrase '' --quick-gen-key \
        "nginx stand-in signing key (local tests only) <nginx-standin@localhost>" \
        rsa3072 sign 1y 2>/dev/null
    gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" {print $10; exit}'
}

write_indexes() {  # $1 = channel root (…/packages/debian or …/mainline/debian)
    local channel="$1" suite="$2" bin="$1/dists/$2/nginx/binary-$ARCH"
    mkdir -p "$bin"
    # One pool for every suite, as nginx.org's: each suite's index lists its own package only.
    (cd "$channel" && apt-ftparchive packages pool/nginx) \
        | awk -v RS= -v ORS='\n\n' -v deb="~${suite}_${ARCH}.deb" 'index($0, deb)' >"$bin/Packages"
    grep -q '^Package: nginx$' "$bin/Packages" || die "no $suite package in $channel/pool"
    gzip -9nc "$bin/Packages" >"$bin/Packages.gz"
}

write_release() {
    local dists="$1/dists/$2" suite="$2"
    apt-ftparchive \
        -o APT::FTPArchive::Release::Origin=nginx \
        -o APT::FTPArchive::Release::Label=nginx \
        -o APT::FTPArchive::Release::Suite="$suite" \
        -o APT::FTPArchive::Release::Codename="$suite" \
        -o APT::FTPArchive::Release::Architectures="${ARCHES[*]}" \
        -o APT::FTPArchive::Release::Components=nginx \
        -o APT::FTPArchive::Release::Description="nginx.org layout, local test stand-in" \
        release "$dists" >"$WORK/Release"
    mv "$WORK/Release" "$dists/Release"
}

sign_release() {
    local dists="$1/dists/$2" fpr="$3"
    rm -f "$dists/InRelease" "$dists/Release.gpg"
    gpg --batch --yes --quiet --local-user "$fpr" --digest-algo SHA512 \
        --clearsign -o "$dists/InRelease" "$dists/Release"
    gpg --batch --yes --quiet --local-user "$fpr" --digest-algo SHA512 \
        --armor --detach-sign -o "$dists/Release.gpg" "$dists/Release"
}

build_channel() {  # $1 channel root, $2 fingerprint, $3 directory of .debs, $4... suites
    local channel="$1" fpr="$2" debs="$3" suite
    shift 3
    mkdir -p "$channel/pool/nginx/n/nginx"
    cp "$debs"/*.deb "$channel/pool/nginx/n/nginx/"
    for suite in "$@"; do
        for ARCH in "${ARCHES[@]}"; do
            write_indexes "$channel" "$suite"
        done
        write_release "$channel" "$suite"
        sign_release "$channel" "$suite" "$fpr"
    done
}

main() {
    [[ $# -eq 2 || $# -eq 3 ]] || die "usage: $0 SUITE[,SUITE...] OUTDIR [ARCH[,ARCH...]]"
    local out="$2" suites suite cache fpr
    IFS=, read -r -a suites <<<"$1"
    IFS=, read -r -a ARCHES <<<"${3:-$(host_arch)}"
    ((${#suites[@]})) || die "no suite given"
    for suite in "${suites[@]}"; do
        [[ "$suite" =~ ^[a-z]+$ ]] || die "bad suite name: $suite"
    done
    for ARCH in "${ARCHES[@]}"; do
        [[ "$ARCH" == amd64 || "$ARCH" == arm64 ]] || die "not an architecture nginx.org builds for: $ARCH"
    done
    require_tools
    mkdir -p "$out" "$STATE_DIR"
    out="$(cd "$out" && pwd)"
    WORK="$(mktemp -d "$STATE_DIR/nginx-repo-work.XXXXXX")"
    trap cleanup EXIT
    export GNUPGHOME="$WORK/gnupg"  # throwaway, deleted by cleanup

    for ARCH in "${ARCHES[@]}"; do
        for suite in "${suites[@]}"; do
            cache="$STATE_DIR/debs/$suite-$ARCH"
            # One download into the cache at a time (runs of this script may overlap).
            (
                flock 9
                if cached_debs_present "$cache"; then
                    log "using cached Debian packages in $cache"
                else
                    download_debian_debs "$suite" "$cache"
                fi
            ) 9>"$STATE_DIR/debs-$suite-$ARCH.lock"
            build_package "$cache" "$suite" "$WORK/deb"
        done
    done

    fpr="$(make_signing_key)"
    [[ "$fpr" =~ ^[0-9A-F]{40}$ ]] || die "could not read the new key's fingerprint"
    rm -rf "$out/packages" "$out/keys" "$out/fingerprint"
    mkdir -p "$out/keys"
    gpg --batch --armor --export "$fpr" >"$out/keys/nginx_signing.key"
    printf '%s\n' "$fpr" >"$out/fingerprint"
    build_channel "$out/packages/debian" "$fpr" "$WORK/deb" "${suites[@]}"
    build_channel "$out/packages/mainline/debian" "$fpr" "$WORK/deb" "${suites[@]}"
    log "repository ready in $out (${suites[*]}; ${ARCHES[*]}; key $fpr)"
}

main "$@"
