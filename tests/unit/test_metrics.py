"""The metrics exporter (roles/entrypoint/files/uwsgi_nginx/metrics.py) against stand-ins that
answer as nginx's stub_status page and uWSGI's stats server do, on real sockets: the exposition's
families and samples, a source that does not answer (its *_up 0), and main() in a child process
on the socket it is given, as the entrypoint starts it. Standard library only: runs on Python 3
(make check) and on the image's Python (2.7)."""
import json
import os
import socket
import subprocess
import sys
import threading
import unittest

from support import PACKAGE_PATHS, Files
from uwsgi_nginx import metrics

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.request import urlopen
    from urllib.error import HTTPError
except ImportError:  # Python 2
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from urllib2 import HTTPError, urlopen

STUB_STATUS = ("Active connections: 3 \nserver accepts handled requests\n 16 15 31 \n"
               "Reading: 0 Writing: 1 Waiting: 2 \n")
UWSGI_STATS = {"version": "2.0.31", "listen_queue": 4, "listen_queue_errors": 1, "workers": [
    {"id": 1, "status": "idle", "requests": 10, "exceptions": 1, "harakiri_count": 0, "respawn_count": 1,
     "rss": 1000},
    {"id": 2, "status": "busy", "requests": 7, "exceptions": 0, "harakiri_count": 2, "respawn_count": 3,
     "rss": 2000}]}


class StubStatus(BaseHTTPRequestHandler):
    def do_GET(self):
        body = STUB_STATUS.encode("ascii")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def in_a_thread(target, *args):
    thread = threading.Thread(target=target, args=args)
    thread.daemon = True
    thread.start()


class Sources(Files):
    """An nginx status page and a uWSGI stats socket, answering."""

    def setUp(self):
        Files.setUp(self)
        server = HTTPServer(("127.0.0.1", 0), StubStatus)
        self.addCleanup(server.server_close)
        in_a_thread(server.serve_forever)
        self.addCleanup(server.shutdown)
        self.nginx_url = "http://127.0.0.1:%d/status" % server.server_address[1]
        self.stats_path = os.path.join(self.root, "stats.sock")
        stats = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stats.bind(self.stats_path)
        stats.listen(5)
        self.addCleanup(stats.close)
        in_a_thread(self.serve_stats, stats)

    @staticmethod
    def serve_stats(listener):
        while True:
            try:
                connection = listener.accept()[0]
            except (socket.error, OSError):
                return
            connection.sendall(json.dumps(UWSGI_STATS).encode("utf-8"))
            connection.close()


class ExpositionTest(Sources):
    def test_nginx_and_uwsgi_counters_as_prometheus_text(self):
        text = metrics.exposition({"nginx": self.nginx_url, "uwsgi": self.stats_path})
        samples = [line for line in text.splitlines() if not line.startswith("#")]
        self.assertEqual(samples, [
            "nginx_up 1", "nginx_connections_active 3", "nginx_connections_reading 0",
            "nginx_connections_writing 1", "nginx_connections_waiting 2", "nginx_connections_accepted_total 16",
            "nginx_connections_handled_total 15", "nginx_http_requests_total 31",
            "uwsgi_up 1", "uwsgi_listen_queue 4", "uwsgi_listen_queue_errors_total 1",
            'uwsgi_workers{status="busy"} 1', 'uwsgi_workers{status="idle"} 1',
            'uwsgi_worker_requests_total{worker="1"} 10', 'uwsgi_worker_requests_total{worker="2"} 7',
            'uwsgi_worker_exceptions_total{worker="1"} 1', 'uwsgi_worker_exceptions_total{worker="2"} 0',
            'uwsgi_worker_harakiri_total{worker="1"} 0', 'uwsgi_worker_harakiri_total{worker="2"} 2',
            'uwsgi_worker_respawns_total{worker="1"} 1', 'uwsgi_worker_respawns_total{worker="2"} 3',
            'uwsgi_worker_rss_bytes{worker="1"} 1000', 'uwsgi_worker_rss_bytes{worker="2"} 2000'])
        self.assertIn("# TYPE nginx_http_requests_total counter\n", text)
        self.assertIn("# TYPE uwsgi_workers gauge\n", text)

    def test_only_the_programs_of_this_container(self):
        text = metrics.exposition({"nginx": None, "uwsgi": self.stats_path})
        self.assertNotIn("nginx_", text)
        self.assertIn("uwsgi_up 1\n", text)

    def test_a_source_that_does_not_answer_is_down(self):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        text = metrics.exposition({"nginx": "http://127.0.0.1:%d/status" % port,
                                   "uwsgi": os.path.join(self.root, "none.sock")})
        self.assertEqual([line for line in text.splitlines() if not line.startswith("#")],
                         ["nginx_up 0", "uwsgi_up 0"])


class ServerTest(Sources):
    """main(), as the entrypoint starts it: on the socket it was given."""

    def test_serves_the_metrics_on_the_socket_it_is_given_and_nothing_else(self):
        listener = metrics.listening_socket(0)
        port = listener.getsockname()[1]
        self.file("state/metrics.json", json.dumps({"nginx": self.nginx_url, "uwsgi": self.stats_path,
                                                     "user": None, "family": listener.family}))
        code = ("import sys; sys.path[:0] = %r; from uwsgi_nginx.metrics import main; sys.exit(main([], %r))"
                % (PACKAGE_PATHS, os.path.join(self.root, "state")))
        environ = dict(os.environ, **{metrics.FD_VARIABLE: str(listener.fileno())})
        options = {"pass_fds": (listener.fileno(),)} if sys.version_info[0] >= 3 else {"close_fds": False}
        exporter = subprocess.Popen([sys.executable, "-c", code], env=environ, **options)
        self.addCleanup(exporter.wait)
        self.addCleanup(exporter.kill)
        listener.close()
        response = urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10)
        self.assertEqual(response.headers["Content-Type"], metrics.CONTENT_TYPE)
        body = response.read().decode("utf-8")
        self.assertIn("nginx_http_requests_total 31\n", body)
        self.assertIn('uwsgi_worker_requests_total{worker="2"} 7\n', body)
        with self.assertRaises(HTTPError) as raised:
            urlopen("http://127.0.0.1:%d/" % port, timeout=10)
        self.assertEqual(raised.exception.code, 404)
        self.assertIsNone(exporter.poll())


if __name__ == "__main__":
    unittest.main()
