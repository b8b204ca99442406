#!/usr/bin/env python3
"""Detached loopback servers that stand in for upstreams this machine cannot reach.

Two kinds of server, both bound to 127.0.0.1 on a free port:

* ``serve DIR``   a static file server (used for the nginx.org-layout apt repository)
* ``proxy PREFIX=UPSTREAM ...``   a small GET/HEAD reverse proxy (used as the
  stand-in for archive.debian.org, forwarding to the host's configured mirror)

Each server runs fully detached (own session, stdin from /dev/null, output to a
log file) and leaves NAME.pid, NAME.port and NAME.log in a state directory
(``--state-dir``, default ``$UWSGI_NGINX_STATE_DIR`` or /var/tmp/uwsgi-nginx-test).
Starting returns only once the port answers; ``stop --name NAME`` ends it.

CLI (the URL of a started server is the only thing printed on stdout):
    loopback.py serve DIR [--name NAME] [--state-dir DIR]
    loopback.py proxy /debian=URL [/debian-security=URL ...] [--name NAME]
    loopback.py stop --name NAME | stop-all
    loopback.py mirrors            # prints "MAIN_URL SECURITY_URL" of the host apt config

Module API (for pytest): start_static, start_proxy, stop, stop_all,
host_debian_mirrors.  Python 3 standard library only.
"""

import argparse
import functools
import glob
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_STATE_DIR = "/var/tmp/uwsgi-nginx-test"
HOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
UPSTREAM_TIMEOUT = 60.0
CHUNK = 64 * 1024

# Request headers forwarded upstream and response headers passed back.
FORWARD_REQUEST_HEADERS = ("Range", "If-Range", "If-Modified-Since", "If-None-Match")
PASS_RESPONSE_HEADERS = (
    "Content-Type", "Content-Length", "Last-Modified", "ETag",
    "Content-Range", "Accept-Ranges",
)


# --------------------------------------------------------------------------
# State files
# --------------------------------------------------------------------------

def default_state_dir():
    return os.environ.get("UWSGI_NGINX_STATE_DIR") or DEFAULT_STATE_DIR


def _paths(name, state_dir):
    base = os.path.join(state_dir or default_state_dir(), name)
    return base + ".pid", base + ".port", base + ".log"


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove(*paths):
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _log_tail(log_path, lines=20):
    try:
        with open(log_path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------
# Process handling
# --------------------------------------------------------------------------

def _pid_alive(pid):
    """True if pid runs and is not a zombie (reaps it if it is our child)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open("/proc/%d/stat" % pid) as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _is_our_server(pid, name):
    """Guard against killing a recycled pid: check the command line."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    script = os.path.basename(__file__).encode()
    has_script = any(os.path.basename(arg) == script for arg in argv)
    return has_script and b"--name" in argv and name.encode() in argv


def _wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    return predicate()


def _port_answers(port):
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _spawn_detached(argv, log_path):
    """Start argv in its own session, never as our child; return its pid.

    A short-lived launcher process starts the server and exits, so the server
    is re-parented away from the caller (no zombie, no held stdout/stderr).
    """
    launcher = [sys.executable, os.path.abspath(__file__), "_launch", log_path, "--"] + argv
    result = subprocess.run(
        launcher, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, check=True, timeout=START_TIMEOUT, text=True,
    )
    return int(result.stdout.strip())


def _launch(log_path, argv):
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, close_fds=True, cwd="/",
        )
    print(proc.pid)


def _start(name, kind, args, state_dir):
    state_dir = state_dir or default_state_dir()
    os.makedirs(state_dir, exist_ok=True)
    pid_path, port_path, log_path = _paths(name, state_dir)
    stop(name, state_dir)
    _remove(port_path)
    argv = [sys.executable, os.path.abspath(__file__), "_run", kind,
            "--name", name, "--state-dir", state_dir] + list(args)
    pid = _spawn_detached(argv, log_path)
    _write_atomic(pid_path, "%d\n" % pid)

    def ready():
        port = _read_int(port_path)
        return (port is not None and _port_answers(port)) or not _pid_alive(pid)

    _wait_until(ready, START_TIMEOUT)
    port = _read_int(port_path)
    if port is None or not _pid_alive(pid) or not _port_answers(port):
        stop(name, state_dir)
        raise RuntimeError("loopback server %r did not start; log %s:\n%s"
                           % (name, log_path, _log_tail(log_path)))
    return "http://%s:%d" % (HOST, port)


def start_static(name, directory, state_dir=None):
    """Serve directory over HTTP on 127.0.0.1; return the base URL."""
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(directory)
    return _start(name, "static", [directory], state_dir)


def start_proxy(name, mapping, state_dir=None):
    """Start a GET/HEAD reverse proxy; mapping is {"/prefix": "http://upstream"}."""
    if not mapping:
        raise ValueError("proxy needs at least one PREFIX=UPSTREAM mapping")
    args = ["%s=%s" % (_normalise_prefix(p), u) for p, u in mapping.items()]
    return _start(name, "proxy", args, state_dir)


def stop(name, state_dir=None):
    """Stop the named server (SIGTERM, then SIGKILL) and remove its pid/port files.

    Returns True if a running server was stopped.
    """
    pid_path, port_path, _ = _paths(name, state_dir)
    pid = _read_int(pid_path)
    stopped = False
    if pid and _pid_alive(pid) and _is_our_server(pid, name):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if _wait_until(lambda: not _pid_alive(pid), STOP_TIMEOUT):
                break
        if _pid_alive(pid):
            raise RuntimeError("could not stop %r (pid %d)" % (name, pid))
        stopped = True
    _remove(pid_path, port_path)
    return stopped


def stop_all(state_dir=None):
    """Stop every server that has a pid file in state_dir; return their names."""
    state_dir = state_dir or default_state_dir()
    names = sorted(os.path.basename(p)[:-len(".pid")]
                   for p in glob.glob(os.path.join(state_dir, "*.pid")))
    for name in names:
        stop(name, state_dir)
    return names


# --------------------------------------------------------------------------
# Host apt configuration
# --------------------------------------------------------------------------

def _host_codename():
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key == "VERSION_CODENAME":
                    return value.strip('"')
    except OSError:
        pass
    return None


def _deb822_entries(text):
    """Yield dicts (types, uris, suites, components, signed_by) from a .sources file."""
    for stanza in text.split("\n\n"):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield {
            "types": fields.get("types", "").split(),
            "uris": fields.get("uris", "").split(),
            "suites": fields.get("suites", "").split(),
            "components": fields.get("components", "").split(),
            "signed_by": fields.get("signed-by", ""),
        }


def _one_line_entries(text):
    """Yield dicts from one-line-style sources.list text."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        options = ""
        if "[" in line:
            head, _, rest = line.partition("[")
            options, _, tail = rest.partition("]")
            line = head + tail
        words = line.split()
        if len(words) < 3:
            continue
        yield {
            "types": [words[0]],
            "uris": [words[1]],
            "suites": [words[2]],
            "components": words[3:],
            "signed_by": options,
        }


def _host_apt_entries():
    files = [("/etc/apt/sources.list", _one_line_entries)]
    files += [(p, _one_line_entries) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    files += [(p, _deb822_entries) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))]
    for path, parser in files:
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        for entry in parser(text):
            if "deb" in entry["types"] and "main" in entry["components"]:
                yield entry


def _pick_uri(entries, suite):
    """First URI serving suite; Debian-looking entries (archive keyring) win."""
    matching = [e for e in entries if suite in e["suites"]]
    matching.sort(key=lambda e: "debian-archive" not in e["signed_by"])
    for entry in matching:
        if entry["uris"]:
            return entry["uris"][0].rstrip("/")
    return None


def host_debian_mirrors():
    """Return (main_url, security_url) of the Debian archives in the host apt config."""
    codename = _host_codename()
    entries = list(_host_apt_entries())
    main = _pick_uri(entries, codename)
    security = _pick_uri(entries, codename + "-security") if codename else None
    if not main:
        raise RuntimeError("no Debian main archive for %r in the host apt configuration" % codename)
    if not security:
        raise RuntimeError("no Debian security archive for %r-security in the host apt "
                           "configuration" % codename)
    return main, security


# --------------------------------------------------------------------------
# The servers themselves (run in the detached child)
# --------------------------------------------------------------------------

class QuietStaticHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def _normalise_prefix(prefix):
    return "/" + prefix.strip("/")


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD reverse proxy; the server object carries .routes [(prefix, upstream)]."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._proxy(send_body=True)

    def do_HEAD(self):
        self._proxy(send_body=False)

    def _upstream_url(self):
        path = urllib.parse.urlsplit(self.path).path
        for prefix, upstream in self.server.routes:
            if path == prefix or path.startswith(prefix + "/"):
                rest = self.path[len(prefix):]
                return upstream + rest
        return None

    def _proxy(self, send_body):
        url = self._upstream_url()
        if url is None:
            self.send_error(404, "no upstream for this path")
            return
        request = urllib.request.Request(url, method=self.command)
        for name in FORWARD_REQUEST_HEADERS:
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            response = urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT)
        except urllib.error.HTTPError as error:
            response = error  # 304, 404 ... carry status, headers and body
        except (urllib.error.URLError, OSError) as error:
            self.send_error(502, "upstream failed: %s" % error)
            return
        with response:
            self._relay(response, send_body)

    def _relay(self, response, send_body):
        status = response.status if hasattr(response, "status") else response.code
        self.send_response(status)
        for name in PASS_RESPONSE_HEADERS:
            if response.headers.get(name) is not None:
                self.send_header(name, response.headers[name])
        if response.headers.get("Content-Length") is None and status not in (204, 304):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if send_body and status not in (204, 304):
            try:
                shutil.copyfileobj(response, self.wfile, CHUNK)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True


def _serve(name, state_dir, server):
    _, port_path, _ = _paths(name, state_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _write_atomic(port_path, "%d\n" % server.server_address[1])
    sys.stderr.write("%s: %s listening on http://%s:%d\n"
                     % (time.strftime("%F %T"), name, HOST, server.server_address[1]))
    sys.stderr.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _run_static(name, state_dir, directory):
    handler = functools.partial(QuietStaticHandler, directory=directory)
    _serve(name, state_dir, http.server.ThreadingHTTPServer((HOST, 0), handler))


def _parse_mapping(items):
    mapping = {}
    for item in items:
        prefix, sep, upstream = item.partition("=")
        if not sep or not upstream:
            raise ValueError("expected PREFIX=UPSTREAM, got %r" % item)
        mapping[_normalise_prefix(prefix)] = upstream.rstrip("/")
    return mapping


def _run_proxy(name, state_dir, items):
    server = http.server.ThreadingHTTPServer((HOST, 0), ProxyHandler)
    routes = _parse_mapping(items)
    # Longest prefix first so /debian-security wins over /debian.
    server.routes = sorted(routes.items(), key=lambda r: len(r[0]), reverse=True)
    _serve(name, state_dir, server)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=default_state_dir())
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="static file server")
    serve.add_argument("directory")
    serve.add_argument("--name", default="static")

    proxy = sub.add_parser("proxy", parents=[common], help="GET/HEAD reverse proxy")
    proxy.add_argument("mapping", nargs="+", metavar="PREFIX=UPSTREAM")
    proxy.add_argument("--name", default="proxy")

    stop_cmd = sub.add_parser("stop", parents=[common], help="stop a server")
    stop_cmd.add_argument("--name", required=True)
    sub.add_parser("stop-all", parents=[common], help="stop every server in the state dir")
    sub.add_parser("mirrors", help="print the host's Debian main and security mirror URLs")

    run = sub.add_parser("_run", parents=[common])  # internal: the server process
    run.add_argument("kind", choices=("static", "proxy"))
    run.add_argument("--name", required=True)
    run.add_argument("args", nargs="+")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_launch":  # internal: detach helper, see _spawn_detached
        _launch(argv[1], argv[3:])
        return 0
    args = _parser().parse_args(argv)
    if args.command == "serve":
        print(start_static(args.name, args.directory, args.state_dir))
    elif args.command == "proxy":
        print(start_proxy(args.name, _parse_mapping(args.mapping), args.state_dir))
    elif args.command == "stop":
        if not stop(args.name, args.state_dir):
            sys.stderr.write("loopback: %s was not running\n" % args.name)
    elif args.command == "stop-all":
        for name in stop_all(args.state_dir):
            sys.stderr.write("loopback: stopped %s\n" % name)
    elif args.command == "mirrors":
        print("%s %s" % host_debian_mirrors())
    elif args.command == "_run":
        if args.kind == "static":
            _run_static(args.name, args.state_dir, args.args[0])
        else:
            _run_proxy(args.name, args.state_dir, args.args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        sys.stderr.write("loopback: %s\n" % error)
        sys.exit(1)
