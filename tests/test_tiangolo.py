"""A drop-in for tiangolo/uwsgi-nginx(-flask) users (issue 18): their apps, as their README and
tests lay them out, served by this image unchanged. Each container mounts an app of its own."""
import gzip
import json
import re
import urllib.request

from harness.waits import wait_for
from test_requests import request
from test_runtime import app_dir, env, mount
from websocket_client import TEXT, WebSocket

WSGI_APP = (
    "def {name}(environ, start_response):\n"
    "    body = b'{answer}'\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n"
    "    return [body]\n")


def test_an_app_ini_naming_a_wsgi_file_serves_that_app(image, start_container, tmp_path):
    """Their uwsgi.ini loads the app itself (wsgi-file): that app is served, not /app/main.py."""
    app = app_dir(tmp_path, {"custom.py": WSGI_APP.format(name="application", answer="from custom.py"),
                             "uwsgi.ini": "[uwsgi]\nwsgi-file = /app/custom.py\n"})
    container = start_container(image, *mount(app))
    container.wait_until_serving()
    assert container.get("/")[2] == "from custom.py"
    assert "loads the app itself (wsgi-file)" in container.logs()


def test_a_workdir_other_than_app_holds_the_app(image, start_container, tmp_path):
    """WORKDIR /application and `module = custom_app.main`, as their Flask image allowed."""
    app = app_dir(tmp_path, {"custom_app/__init__.py": "",
                             "custom_app/main.py": WSGI_APP.format(name="app", answer="from /application"),
                             "uwsgi.ini": "[uwsgi]\nmodule = custom_app.main\ncallable = app\n"})
    container = start_container(image, *mount(app, "/application"), "--workdir", "/application",
                                *env(UWSGI_INI="/application/uwsgi.ini"))
    container.wait_until_serving()
    assert container.get("/")[2] == "from /application"


def test_a_module_with_app_and_no_uwsgi_ini_is_served(image, start_container, tmp_path):
    """Flask apps expose `app`; their Flask image's default callable was `app`."""
    directory = tmp_path / "flask-style"
    directory.mkdir()
    (directory / "main.py").write_text(WSGI_APP.format(name="app", answer="served by app"))
    directory.chmod(0o755)
    container = start_container(image, *mount(directory))
    container.wait_until_serving()
    assert container.get("/")[2] == "served by app"


def test_what_prestart_exports_reaches_the_app(image, start_container, tmp_path):
    """Their prestart.sh is sourced, so its exports reach the app."""
    app = app_dir(tmp_path, {"prestart.sh": "export DATABASE_URL=sqlite:////tmp/app.db\nexport GREETING=hello\n"})
    container = start_container(image, *mount(app))
    container.wait_until_serving()
    seen = json.loads(container.get("/environ")[2])
    assert (seen.get("DATABASE_URL"), seen.get("GREETING")) == ("sqlite:////tmp/app.db", "hello"), seen


def test_what_the_app_prints_reaches_the_log_at_once(image_per_python, start_container, tmp_path):
    """Theirs set PYTHONUNBUFFERED=1; this image does not, as uWSGI line-buffers the workers'
    output itself: each request's line is in docker logs before the next request."""
    directory = tmp_path / "printing"
    directory.mkdir()
    (directory / "main.py").write_text(
        "def application(environ, start_response):\n"
        "    print('printed for ' + environ['PATH_INFO'])\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n")
    directory.chmod(0o755)
    container = start_container(image_per_python, *mount(directory))
    container.wait_until_serving()
    assert "PYTHONUNBUFFERED=" not in container.exec("env").stdout
    for number in range(3):
        assert container.get("/request-%d" % number)[0] == 200
        wait_for(lambda: "printed for /request-%d" % number in container.logs(), 5, message="the line in the log")


# An nginx.conf as their README has users start from: nginx's user, a relative include,
# daemon off, their socket. Ours is told, in one line, what to change.
THEIR_NGINX_CONF = """user nginx;
worker_processes 1;
daemon off;
events {
    worker_connections 1024;
}
http {
    server {
        listen 80;
        location / {
            include uwsgi_params;
            uwsgi_pass unix:///tmp/uwsgi.sock;
        }
    }
}
"""


def test_their_nginx_conf_stops_the_start_saying_what_to_change(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path, {"nginx.conf": THEIR_NGINX_CONF})))
    assert container.wait_exit(timeout=30) == 1
    prefix = "uwsgi-nginx-entrypoint: /app/nginx.conf:"
    [hint] = [line for line in container.logs().splitlines() if line.startswith(prefix)]
    for change in ("include /etc/nginx/uwsgi_params", 'leave out "daemon off;"', "unix:/run/uwsgi/uwsgi.sock",
                   "user www-data;"):
        assert change in hint, hint


# Files of their image's layout that this one never reads: their /etc/uwsgi/uwsgi.ini (uWSGI
# reads what a start renders), a program for their supervisord's conf.d (ours reads none) and
# their /start.sh (their CMD; ours is run-supervisord).
THEIR_UWSGI_INI = "[uwsgi]\nsocket = /tmp/uwsgi.sock\nchown-socket = nginx:nginx\nchmod-socket = 664\n"
THEIR_PROGRAM = "[program:worker]\ncommand = python /app/worker.py\n"


def test_their_etc_files_stop_the_start_naming_each(image, start_container, tmp_path):
    etc = tmp_path / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "uwsgi.ini").write_text(THEIR_UWSGI_INI)
    (etc / "conf.d" / "worker.conf").write_text(THEIR_PROGRAM)
    (etc / "start.sh").write_text("#!/bin/sh\nexec /usr/bin/supervisord\n")
    for path in (etc, etc / "conf.d"):
        path.chmod(0o755)
    container = start_container(image, *mount(app_dir(tmp_path)),
                                "--volume", "%s:/etc/uwsgi/uwsgi.ini:ro" % (etc / "uwsgi.ini"),
                                "--volume", "%s:/etc/supervisor/conf.d:ro" % (etc / "conf.d"),
                                "--volume", "%s:/start.sh:ro" % (etc / "start.sh"))
    assert container.wait_exit(timeout=30) == 1
    lines = container.logs().splitlines()
    assert lines == [
        "uwsgi-nginx-entrypoint: /etc/uwsgi/uwsgi.ini: not the file this image was built with, and no program "
        "reads it (they read /run/uwsgi-nginx/uwsgi.ini, written at every start): put the app's uWSGI settings in "
        "/app/uwsgi.ini (or the file UWSGI_INI names), which uWSGI reads after the image's "
        "(docs/migrating-from-tiangolo.md)",
        "uwsgi-nginx-entrypoint: /etc/supervisor/conf.d/worker.conf: this image's supervisord runs nginx and uWSGI "
        "only, and reads no conf.d: run another program in a container of its own from the same image, docker run "
        "IMAGE COMMAND (docs/migrating-from-tiangolo.md)",
        "uwsgi-nginx-entrypoint: /start.sh: this image runs no /start.sh (its command is run-supervisord): what it "
        "ran before supervisord goes in /app/prestart.sh (or the file PRE_START_PATH names), which runs at every "
        "start (docs/migrating-from-tiangolo.md)"], lines
    # Another command runs as given: the program in a container of its own.
    worker = start_container(image, "--volume", "%s:/etc/supervisor/conf.d:ro" % (etc / "conf.d"),
                             command=["python", "-c", "print('worker ran')"])
    assert worker.wait_exit(timeout=30) == 0 and worker.logs() == "worker ran\n", worker.logs()


def test_their_flask_app_without_flask_stops_naming_the_missing_module(image, start_container, tmp_path):
    """Their Flask image bundled Flask; this one does not: an app that a FROM swap alone moves
    here stops at start, uWSGI's traceback naming the module (need-app)."""
    app = app_dir(tmp_path, {"main.py": "from flask import Flask\n\napp = Flask(__name__)\n"})
    container = start_container(image, *mount(app))
    assert container.wait_exit(timeout=60) != 0
    logs = container.logs()
    assert re.search(r"(ImportError|ModuleNotFoundError): No module named '?flask'?$", logs, re.M), logs
    assert "run-supervisord: stopped because uwsgi FATAL" in logs, logs


# --- what app authors expect ----------------------------------------------------------------

def fetch(container, path, headers=None):
    """(headers, body bytes) of a GET, as sent (nothing decompressed)."""
    with urllib.request.urlopen(urllib.request.Request(container.url + path, headers=headers or {}),
                                timeout=10) as response:
        return response.headers, response.read()


def test_text_answers_are_compressed_for_clients_that_accept_it(image, start_container, tmp_path):
    app = app_dir(tmp_path)
    on = start_container(image, *mount(app))
    off = start_container(image, *mount(app), *env(NGINX_GZIP="0"))
    for container in (on, off):
        container.wait_until_serving()
    headers, body = fetch(on, "/text?size=5000", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == b"text " * 1000
    assert fetch(on, "/text?size=5000")[0]["Content-Encoding"] is None
    assert fetch(off, "/text?size=5000", {"Accept-Encoding": "gzip"})[0]["Content-Encoding"] is None


def test_every_request_has_an_id_logged_and_passed_to_the_app(probe):
    environ = request(probe.port)[1]
    request_id = environ["HTTP_X_REQUEST_ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0, request_id
    wait_for(lambda: request_id in probe.logs(), 10, message="the id in the access log")
    # One the client (or a proxy in front) sent is kept.
    assert request(probe.port, headers=[("X-Request-ID", "abc-123")])[1]["HTTP_X_REQUEST_ID"] == "abc-123"


def test_the_client_address_behind_a_trusted_proxy(image, start_container, tmp_path):
    app = app_dir(tmp_path)
    untrusting = start_container(image, *mount(app))
    untrusting.wait_until_serving()
    proxy = request(untrusting.port)[1]["REMOTE_ADDR"]  # how the tests' connections arrive
    spoofed = [("X-Forwarded-For", "203.0.113.7")]
    assert request(untrusting.port, headers=spoofed)[1]["REMOTE_ADDR"] == proxy
    trusting = start_container(image, *mount(app), *env(NGINX_REAL_IP_FROM="%s/32,10.0.0.0/8" % proxy))
    trusting.wait_until_serving()
    assert request(trusting.port, headers=spoofed)[1]["REMOTE_ADDR"] == "203.0.113.7"
    wait_for(lambda: any(line.startswith("203.0.113.7 - ") for line in trusting.logs().splitlines()), 10,
             message="the client's address in the access log")


def test_supervisord_starts_without_a_critical_line(probe):
    # supervisorctl, with the credentials of the configuration, still reaches it.
    def running():
        status = probe.exec("supervisorctl", "status", "nginx", "uwsgi", check=False).stdout
        return status.count("RUNNING") == 2
    wait_for(running, 10, message="supervisorctl status: both RUNNING")
    assert "CRIT" not in probe.logs()


def test_nginx_t_in_the_container_shows_the_configuration_that_runs(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)), *env(LISTEN_PORT="8081"), port=8081)
    container.wait_until_serving()
    shown = container.exec("nginx", "-T").stdout
    assert "# configuration file /run/uwsgi-nginx/nginx.conf:" in shown, shown[:500]
    assert "listen 8081 default_server" in shown


def test_the_app_writes_its_data_directory_and_what_prestart_put_there(image, start_container, tmp_path):
    """/var/lib/app is the app's: as the image has it, and as a fresh mount (here a tmpfs, root's)."""
    hook = "echo 'made by prestart, as root' > /var/lib/app/app.db\nmkdir -p /var/lib/app/media\n"
    app = app_dir(tmp_path, {"prestart.sh": hook})
    for mounted in ([], ["--tmpfs", "/var/lib/app"]):
        container = start_container(image, *mount(app), *mounted)
        container.wait_until_serving()
        for target in ("/var/lib/app/app.db", "/var/lib/app/media/upload.png", "/var/lib/app/new.txt"):
            assert container.get("/write?path=" + target)[0] == 200, (mounted, target, container.logs()[-2000:])


def test_a_websocket_through_nginx_echoes(probe):
    """uWSGI's WebSocket API (built with OpenSSL), reached through nginx on the image's port."""
    plain = request(probe.port)[1]
    socket = WebSocket(probe.port, "/websocket")
    assert socket.status == 101, (socket.status, probe.logs()[-2000:])
    assert socket.headers["upgrade"].lower() == "websocket"
    assert socket.headers["sec-websocket-accept"] == socket.expected_accept
    for message in ("hello", "é" * 40000):  # a short frame, and one of 80,000 bytes
        socket.send(message)
        assert socket.receive() == (TEXT, message.encode("utf-8"))
    socket.send("wsgi")
    opcode, payload = socket.receive()
    environ = json.loads(payload.decode("utf-8"))
    assert environ["HTTP_X_REAL_IP"] == plain["REMOTE_ADDR"], environ
    assert len(environ["HTTP_X_REQUEST_ID"]) == 32, environ
    assert "HTTP_PROXY" not in environ
    assert socket.close(), "the server did not end the connection after the client's close"
    wait_for(lambda: '"GET /websocket HTTP/1.1" 101 ' in probe.logs(), 10, message="the access log's 101")
