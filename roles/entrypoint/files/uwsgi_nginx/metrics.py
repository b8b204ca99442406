"""The metrics (uwsgi-nginx-metrics, installed by the entrypoint role; started by the entrypoint
beside the command when METRICS_PORT is set): Prometheus's text exposition, on that port only,
of what runs in this container, read at each scrape:

  nginx   its stub_status page, a location only loopback clients may use: connections (active,
          reading, writing, waiting), connections accepted and handled, requests
  uWSGI   its stats server (a unix socket, JSON): the listen queue and its overflows, the
          workers by status (idle, busy, ...), and each worker's requests, exceptions,
          harakiris, respawns and memory

A start writes what to read into the state directory (metrics.json: nginx's URL, uWSGI's
socket, each null when that program is not in this container, and the user to run as); the
entrypoint binds the port and passes the socket (UWSGI_NGINX_METRICS_FD). Answers GET /metrics,
404 for anything else. Python 2.7 and 3, standard library only."""
from __future__ import print_function

import json
import os
import pwd
import re
import socket
import sys

try:
    from http.client import HTTPConnection
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from httplib import HTTPConnection
    from urlparse import urlsplit

NAME = "uwsgi-nginx-metrics"
SOURCES_FILE = "metrics.json"
FD_VARIABLE = "UWSGI_NGINX_METRICS_FD"
PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TIMEOUT_SECONDS = 3
STUB_STATUS = re.compile(r"Active connections:\s*(\d+)\s+server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                         r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)")
# Each family: (name, type, help).
NGINX_FAMILIES = [
    ("nginx_up", "gauge", "1 when nginx's status page answered this scrape"),
    ("nginx_connections_active", "gauge", "client connections open, waiting ones included"),
    ("nginx_connections_reading", "gauge", "connections whose request nginx is reading"),
    ("nginx_connections_writing", "gauge", "connections nginx is answering"),
    ("nginx_connections_waiting", "gauge", "idle keep-alive connections"),
    ("nginx_connections_accepted_total", "counter", "client connections accepted"),
    ("nginx_connections_handled_total", "counter", "client connections handled"),
    ("nginx_http_requests_total", "counter", "client requests"),
]
UWSGI_FAMILIES = [
    ("uwsgi_up", "gauge", "1 when uWSGI's stats server answered this scrape"),
    ("uwsgi_listen_queue", "gauge", "connections waiting in the socket's queue for a worker"),
    ("uwsgi_listen_queue_errors_total", "counter", "connections refused because the queue was full"),
    ("uwsgi_workers", "gauge", "workers by status (idle, busy, cheap, ...)"),
    ("uwsgi_worker_requests_total", "counter", "requests a worker answered"),
    ("uwsgi_worker_exceptions_total", "counter", "exceptions the app raised in a worker"),
    ("uwsgi_worker_harakiri_total", "counter", "requests of a worker killed by harakiri"),
    ("uwsgi_worker_respawns_total", "counter", "times a worker was started again"),
    ("uwsgi_worker_rss_bytes", "gauge", "a worker's resident memory"),
]


def nginx_samples(url):
    """(name, labels, value) from nginx's stub_status page; nginx_up 0 when it does not answer."""
    try:
        parts = urlsplit(url)
        connection = HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT_SECONDS)
        connection.request("GET", parts.path, headers={"User-Agent": NAME})
        response = connection.getresponse()
        text = response.read().decode("ascii", "replace")
        found = STUB_STATUS.search(text) if response.status == 200 else None
    except Exception as error:  # whatever went wrong, nginx's counters are down for this scrape
        print("%s: nginx's status at %s: %s" % (NAME, url, error), file=sys.stderr)
        found = None
    if not found:
        return [("nginx_up", {}, 0)]
    active, accepted, handled, requests, reading, writing, waiting = (int(number) for number in found.groups())
    return [("nginx_up", {}, 1), ("nginx_connections_active", {}, active),
            ("nginx_connections_reading", {}, reading), ("nginx_connections_writing", {}, writing),
            ("nginx_connections_waiting", {}, waiting), ("nginx_connections_accepted_total", {}, accepted),
            ("nginx_connections_handled_total", {}, handled), ("nginx_http_requests_total", {}, requests)]


def uwsgi_stats(path):
    """uWSGI's stats server's JSON: it writes it to each connection, then closes it."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(TIMEOUT_SECONDS)
    try:
        connection.connect(path)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        connection.close()
    return json.loads(b"".join(chunks).decode("utf-8", "replace"))


def uwsgi_samples(path):
    """(name, labels, value) from uWSGI's stats server; uwsgi_up 0 when it does not answer."""
    try:
        stats = uwsgi_stats(path)
    except Exception as error:  # whatever went wrong, uWSGI's counters are down for this scrape
        print("%s: uWSGI's stats at %s: %s" % (NAME, path, error), file=sys.stderr)
        return [("uwsgi_up", {}, 0)]
    samples = [("uwsgi_up", {}, 1), ("uwsgi_listen_queue", {}, stats.get("listen_queue", 0)),
               ("uwsgi_listen_queue_errors_total", {}, stats.get("listen_queue_errors", 0))]
    statuses = {"idle": 0, "busy": 0}
    for worker in stats.get("workers", []):
        statuses[worker.get("status", "unknown")] = statuses.get(worker.get("status", "unknown"), 0) + 1
    samples += [("uwsgi_workers", {"status": status}, count) for status, count in sorted(statuses.items())]
    for worker in stats.get("workers", []):
        labels = {"worker": str(worker["id"])}
        samples += [("uwsgi_worker_requests_total", labels, worker.get("requests", 0)),
                    ("uwsgi_worker_exceptions_total", labels, worker.get("exceptions", 0)),
                    ("uwsgi_worker_harakiri_total", labels, worker.get("harakiri_count", 0)),
                    ("uwsgi_worker_respawns_total", labels, worker.get("respawn_count", 0)),
                    ("uwsgi_worker_rss_bytes", labels, worker.get("rss", 0))]
    return samples


def exposition(sources):
    """The text a scrape gets: each family's HELP and TYPE, then its samples."""
    families, samples = [], []
    if sources.get("nginx"):
        families += NGINX_FAMILIES
        samples += nginx_samples(sources["nginx"])
    if sources.get("uwsgi"):
        families += UWSGI_FAMILIES
        samples += uwsgi_samples(sources["uwsgi"])
    lines = []
    for name, kind, text in families:
        lines += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)]
        for sample_name, labels, value in samples:
            if sample_name == name:
                label_text = ",".join('%s="%s"' % (key, labels[key]) for key in sorted(labels))
                lines.append("%s%s %s" % (name, "{%s}" % label_text if label_text else "", value))
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    server_version = NAME
    timeout = TIMEOUT_SECONDS

    def do_GET(self):
        if self.path.split("?", 1)[0] != PATH:
            self.answer(404, "text/plain; charset=utf-8", "not found: the metrics are at %s\n" % PATH)
            return
        self.answer(200, CONTENT_TYPE, exposition(self.server.sources))

    def answer(self, status, content_type, text):
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Scrapes are not logged."""


def listening_socket(port):
    """A socket listening on port, every address: IPv6 and IPv4 where the kernel has IPv6."""
    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address = ("::", port)
    except (socket.error, OSError, AttributeError):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = ("0.0.0.0", port)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(16)
    return listener


def inherited_socket(descriptor, family):
    """The listening socket the entrypoint passed, as a socket object."""
    listener = socket.fromfd(descriptor, family, socket.SOCK_STREAM)
    os.close(descriptor)
    if not isinstance(listener, socket.socket):  # Python 2: fromfd gives the bare C socket
        listener = socket.socket(family, socket.SOCK_STREAM, _sock=listener)
    return listener


def drop_privileges(user):
    """To user, when running as root: the exporter needs no privilege, and uWSGI's stats socket
    is that user's."""
    if not user or os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def main(argv, state_dir):
    if argv:
        print("usage: %s (started by the entrypoint when METRICS_PORT is set)" % NAME, file=sys.stderr)
        return 2
    with open(os.path.join(state_dir, SOURCES_FILE)) as sources_file:
        sources = json.load(sources_file)
    listener = inherited_socket(int(os.environ[FD_VARIABLE]), sources["family"])
    drop_privileges(sources.get("user"))
    server = HTTPServer(listener.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.sources = sources
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
