"""The health probe (roles/entrypoint/files/uwsgi_nginx/healthcheck.py) against an HTTP server
these tests run on 127.0.0.1: healthy on any answer below 500, unhealthy on 502/504, on no
answer and without the URL file. Standard library only: runs on Python 3 (make check) and on the
image's Python (2.7)."""
import os
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
        handle, self.url_file = tempfile.mkstemp()
        os.close(handle)
        self.addCleanup(os.remove, self.url_file)

    def probe(self, status=None, url=None):
        self.server.status = status
        with open(self.url_file, "w") as url_file:
            url_file.write((url or "http://127.0.0.1:%d/_health" % self.server.server_address[1]) + "\n")
        return healthcheck.main([], self.url_file)

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
        self.assertEqual(healthcheck.main([], self.url_file + ".missing"), 1)


if __name__ == "__main__":
    unittest.main()
