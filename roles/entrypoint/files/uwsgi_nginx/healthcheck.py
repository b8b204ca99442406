"""The image's HEALTHCHECK (uwsgi-nginx-healthcheck, installed by the entrypoint role). A start
writes what its command's probe asks, and of whom, into the state directory:

  uwsgi-nginx-healthcheck          the app: healthy on its answer, any status below 500 (a 404
                                   from the app included); 502 and 504 are nginx's own when
                                   uWSGI does not answer. Through nginx (run-supervisord,
                                   run-nginx: an http:// URL), or straight to uWSGI's socket in
                                   the uwsgi protocol (run-uwsgi: uwsgi://host:port/path, or
                                   uwsgi://unix:/path/of/the.sock:/path as nginx names those)
  uwsgi-nginx-healthcheck nginx    nginx itself, whatever the app does (a location it answers)

Unhealthy, "stopping", during the drain on stop. Python 2.7 and 3."""
from __future__ import print_function

import os
import socket
import struct

from uwsgi_nginx import drain

try:
    from http.client import HTTPConnection
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from httplib import HTTPConnection
    from urlparse import urlsplit

TIMEOUT_SECONDS = 3
USER_AGENT = "uwsgi-nginx-healthcheck"
# The file a start writes for each check.
URL_FILES = {"app": "healthcheck-url", "nginx": "nginx-alive-url"}


def http_status(url):
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT_SECONDS)
    connection.request("GET", parts.path or "/", headers={"User-Agent": USER_AGENT})
    return connection.getresponse().status


def uwsgi_request(path):
    """A GET of path in the uwsgi protocol: a 4-byte header (modifier 0, the size of the
    variables, 0) and the variables, each name and value after its 2-byte size."""
    variables = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", path), ("PATH_INFO", path), ("QUERY_STRING", ""),
                 ("SERVER_PROTOCOL", "HTTP/1.1"), ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"),
                 ("REMOTE_ADDR", "127.0.0.1"), ("HTTP_HOST", "localhost"), ("HTTP_USER_AGENT", USER_AGENT)]
    body = b"".join(struct.pack("<H", len(part)) + part
                    for pair in variables for part in (pair[0].encode("ascii"), pair[1].encode("utf-8")))
    return struct.pack("<BHB", 0, len(body), 0) + body


def uwsgi_status(url):
    rest = url[len("uwsgi://"):]
    if rest.startswith("unix:"):
        address, _, path = rest[len("unix:"):].partition(":")
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        host_port, slash, path = rest.partition("/")
        host, _, port = host_port.rpartition(":")
        address, path = (host.strip("[]") or "127.0.0.1", int(port)), slash + path
        connection = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    connection.settimeout(TIMEOUT_SECONDS)
    try:
        connection.connect(address)
        connection.sendall(uwsgi_request(path or "/"))
        answer = b""
        while b"\n" not in answer:
            received = connection.recv(4096)
            if not received:
                break
            answer += received
    finally:
        connection.close()
    status_line = answer.split(b"\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError("no HTTP status line from uWSGI: %r" % answer[:80])
    return int(status_line[1])


def main(argv, state_dir):
    check = argv[0] if argv else "app"
    if check not in URL_FILES:
        print("usage: %s [nginx]" % USER_AGENT)
        return 2
    if drain.stopping(state_dir):
        print("unhealthy: stopping (%s)" % drain.NAME)
        return 1
    try:
        with open(os.path.join(state_dir, URL_FILES[check])) as url_file:
            url = url_file.read().strip()
    except (IOError, OSError) as error:
        print("unhealthy: %s (no %s in this container, or it has not started)" % (error, check))
        return 1
    try:
        status = uwsgi_status(url) if url.startswith("uwsgi://") else http_status(url)
    except Exception as error:  # whatever went wrong, the answer is "unhealthy", with the reason
        print("unhealthy: %s" % error)
        return 1
    print("%s: %d %s" % (url, status, "healthy" if status < 500 else "unhealthy"))
    return 0 if status < 500 else 1
