"""The health probe (roles/entrypoint/files/uwsgi_nginx/healthcheck.py) against an HTTP server
these tests run on 127.0.0.1, and a server that speaks the uwsgi protocol as uWSGI does, on TCP
and on a unix socket: healthy on any answer below 500, unhealthy on 502/504, on no answer and
without the URL file. Standard library only: runs on Python 3 (make check) and on the image's
Python (2.7)."""
import os
import shutil
import socket
import struct
import tempfile
import threading
import unittest

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
except ImportError:  # Python 2
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer

import support  # noqa: F401 (the package on the path)
from uwsgi_nginx import healthcheck


class Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class HealthcheckTest(unittest.TestCase):
    def setUp(self):
        self.server = HTTPServer(("127.0.0.1", 0), Answer)
        thread = threading.Thread(target=self.server.serve_forever)
        thread.daemon = True
        thread.start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.state_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.state_dir)

    def probe(self, status=None, url=None, check="app"):
        self.server.status = status
        with open(os.path.join(self.state_dir, healthcheck.URL_FILES[check]), "w") as url_file:
            url_file.write((url or "http://127.0.0.1:%d/_health" % self.server.server_address[1]) + "\n")
        return healthcheck.main([] if check == "app" else [check], self.state_dir)

    def test_any_answer_below_500_is_healthy(self):
        self.assertEqual(self.probe(200), 0)
        self.assertEqual(self.probe(404), 0)

    def test_nginx_answering_for_a_silent_uwsgi_is_unhealthy(self):
        self.assertEqual(self.probe(502), 1)
        self.assertEqual(self.probe(504), 1)

    def test_no_answer_or_no_url_is_unhealthy(self):
        port = self.server.server_address[1]
        self.server.server_close()
        self.assertEqual(self.probe(url="http://127.0.0.1:%d/_health" % port), 1)
        self.assertEqual(healthcheck.main(["nginx"], self.state_dir), 1)  # no nginx-alive-url: no nginx here

    def test_nginx_itself_is_asked_with_the_argument_nginx(self):
        self.assertEqual(self.probe(204, check="nginx"), 0)
        self.assertEqual(healthcheck.main(["anything"], self.state_dir), 2)


def serve_uwsgi(listener, status, requests):
    """Answers one request in the uwsgi protocol as uWSGI does: reads the 4-byte header and the
    variables, records them, writes an HTTP answer."""
    connection = listener.accept()[0]
    header = b""
    while len(header) < 4:
        header += connection.recv(4 - len(header))
    modifier, size, _ = struct.unpack("<BHB", header)
    body = b""
    while len(body) < size:
        body += connection.recv(size - len(body))
    variables, offset = {}, 0
    while offset < size:
        parts = []
        for _ in range(2):
            length = struct.unpack("<H", body[offset:offset + 2])[0]
            parts.append(body[offset + 2:offset + 2 + length].decode("utf-8"))
            offset += 2 + length
        variables[parts[0]] = parts[1]
    requests.append((modifier, variables))
    connection.sendall(("HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n" % status).encode("ascii"))
    connection.close()


class UwsgiHealthcheckTest(unittest.TestCase):
    def setUp(self):
        self.state_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.state_dir)
        self.requests = []

    def probe(self, listener, url, status):
        listener.listen(1)
        thread = threading.Thread(target=serve_uwsgi, args=(listener, status, self.requests))
        thread.daemon = True
        thread.start()
        with open(os.path.join(self.state_dir, "healthcheck-url"), "w") as url_file:
            url_file.write(url + "\n")
        code = healthcheck.main([], self.state_dir)
        thread.join(5)
        listener.close()
        return code

    def test_uwsgi_on_tcp_is_asked_in_its_protocol(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        url = "uwsgi://127.0.0.1:%d/_health" % listener.getsockname()[1]
        self.assertEqual(self.probe(listener, url, 404), 0)
        modifier, variables = self.requests[0]
        self.assertEqual((modifier, variables["REQUEST_METHOD"], variables["PATH_INFO"], variables["HTTP_USER_AGENT"]),
                         (0, "GET", "/_health", "uwsgi-nginx-healthcheck"))

    def test_uwsgi_on_a_unix_socket_answering_500_is_unhealthy(self):
        path = os.path.join(self.state_dir, "uwsgi.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        self.assertEqual(self.probe(listener, "uwsgi://unix:%s:/_health" % path, 500), 1)
        self.assertEqual(self.requests[0][1]["PATH_INFO"], "/_health")


if __name__ == "__main__":
    unittest.main()
