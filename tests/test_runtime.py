"""The image as users run it: settings from the environment (checked, applied at every start),
the app's hooks and files, the health check, restarts and stops. Black-box: every test runs its
own containers, published on 127.0.0.1 on ports Docker picks, with the tests' probe app
(tests/apps/probe) or files of its own bind-mounted into /app."""
import http.client
import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from harness.config import PYTHON_IMAGE
from harness.docker_client import docker
from harness.images import docker_build_context, python_version
from harness.waits import http_get, wait_for

PROBE_APP = Path(__file__).resolve().parent / "apps" / "probe"
ENTRYPOINT = "uwsgi-nginx-entrypoint"
# The image's configuration, as the build wrote it, and as the entrypoint renders it at start.
BUILT_CONFIG_FILES = ["/etc/nginx/nginx.conf", "/etc/uwsgi/uwsgi.ini"]
CONFIG_FILES = ["/run/uwsgi-nginx/nginx.conf", "/run/uwsgi-nginx/uwsgi.ini"]
# Health checks every second in these tests, instead of the image's 10 s.
FAST_HEALTH = ["--health-interval", "1s", "--health-timeout", "3s", "--health-retries", "2",
               "--health-start-period", "0s"]


def app_dir(tmp_path, files=None):
    """A copy of the probe app plus files ({relative path: text or (text, mode)}), readable
    by the container's uwsgi and www-data users."""
    directory = tmp_path / "app"
    shutil.copytree(str(PROBE_APP), str(directory))
    for name, content in (files or {}).items():
        text, mode = content if isinstance(content, tuple) else (content, 0o644)
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    for path in [directory] + [p for p in directory.rglob("*") if p.is_dir()]:
        path.chmod(0o755)
    return directory


def mount(directory, target="/app"):
    return ["--volume", "%s:%s:ro" % (directory, target)]


def env(**variables):
    args = []
    for name, value in variables.items():
        args += ["--env", "%s=%s" % (name, value)]
    return args


def process_table(container):
    """[(pid, parent pid, command line)] of the container's processes."""
    return [(pid, ppid, cmd) for pid, ppid, _, cmd in container.processes()]


def is_uwsgi(command_line):
    """uWSGI's own processes: `uwsgi --ini ...`, or, once a reload re-executed them, by full path."""
    return command_line.split(" ", 1)[0].rsplit("/", 1)[-1] == "uwsgi"


def uwsgi_workers(container):
    """pids of uWSGI's workers: uwsgi processes whose parent is a uwsgi process (the master)."""
    table = process_table(container)
    uwsgi = {pid for pid, _, cmd in table if is_uwsgi(cmd)}
    return [pid for pid, ppid, _ in table if pid in uwsgi and ppid in uwsgi]


def nginx_workers(container):
    return [pid for pid, _, _, _ in container.nginx_workers()]


def checksums(container):
    output = container.exec("sha256sum", *CONFIG_FILES).stdout
    return dict(reversed(line.split()) for line in output.splitlines())


def entrypoint_lines(logs):
    return [line for line in logs.splitlines() if line.startswith(ENTRYPOINT + ":")]


def post(url, size):
    request = urllib.request.Request(url, data=b"x" * size, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# --- settings from the environment -------------------------------------------------------

BAD_SETTINGS = [
    ("UWSGI_PROCESSES", "abc"),
    ("UWSGI_PROCESSES", "0"),
    ("UWSGI_PROCESSES", "4%"),
    ("UWSGI_THREADS", "two"),
    ("UWSGI_CHEAPER", "1024"),  # not fewer than the processes (2 per CPU)
    ("UWSGI_HARAKIRI", "-1"),
    ("UWSGI_HARAKIRI", "30\nchmod-socket = 666"),
    ("UWSGI_INI", "/app/%d.ini"),
    ("UWSGI_INI", "/app/missing.ini"),
    ("LISTEN_PORT", "70000"),
    ("LISTEN_PORT", "80 default_server; listen 81"),
    ("NGINX_MAX_UPLOAD", "lots"),
    ("NGINX_MAX_UPLOAD", "1m; return 200"),
    ("NGINX_MAX_UPLOAD", "1m\nworker_processes 64"),
    ("NGINX_WORKER_PROCESSES", "many"),
    ("NGINX_WORKER_CONNECTIONS", "-5"),
    ("NGINX_WORKER_OPEN_FILES", "1e6"),
    ("NGINX_UWSGI_READ_TIMEOUT", "0"),
    ("NGINX_UWSGI_READ_TIMEOUT", "60s"),
    ("STATIC_URL", "/with space"),
    ("STATIC_URL", '/quote"d'),
    ("STATIC_URL", "/static/../app"),
    ("STATIC_PATH", "/does/not/exist"),
    ("STATIC_PATH", "relative/path"),
    ("STATIC_INDEX", "maybe"),
    ("PRE_START_PATH", "/app/missing-prestart.sh"),
    ("PRE_START_PATH", "prestart.sh"),
    ("PRE_START_PATH", "/app/../bin/true"),
    ("DRAIN_SECONDS", "5s"),
    ("DRAIN_SECONDS", "3601"),
]


@pytest.mark.parametrize("name,value", BAD_SETTINGS, ids=["%s=%s" % pair for pair in BAD_SETTINGS])
def test_a_bad_setting_stops_the_container_before_any_service_starts(image, start_container, name, value):
    container = start_container(image, *env(**{name: value}))
    exit_code = container.wait_exit(timeout=20)
    logs = container.logs()
    assert exit_code != 0, logs
    assert entrypoint_lines(logs) == [line for line in logs.splitlines() if line.strip()], logs
    [message] = entrypoint_lines(logs)
    assert message.startswith("%s: %s=%s: expected " % (ENTRYPOINT, name, json.dumps(value))), message
    assert "supervisord" not in logs


def test_every_bad_setting_is_named_at_once(image, start_container):
    container = start_container(image, *env(UWSGI_PROCESSES="abc", LISTEN_PORT="0"))
    assert container.wait_exit(timeout=20) != 0
    named = sorted(line.split(":")[1].split("=")[0].strip() for line in entrypoint_lines(container.logs()))
    assert named == ["LISTEN_PORT", "UWSGI_PROCESSES"], container.logs()


def test_uwsgi_processes_and_threads_from_the_environment(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)),
                                *env(UWSGI_PROCESSES="3", UWSGI_THREADS="2"))
    container.wait_until_serving()
    workers = uwsgi_workers(container)
    assert len(workers) == 3, process_table(container)
    for pid in workers:
        threads = int(container.exec("sh", "-c", "ls /proc/%d/task | wc -l" % pid).stdout)
        assert threads >= 2, "worker %d has %d thread(s)" % (pid, threads)
    # Applied once, by the configuration: uWSGI must not read them from its environment again.
    worker_environ = json.loads(container.get("/environ")[2])
    assert "UWSGI_PROCESSES" not in worker_environ and "UWSGI_THREADS" not in worker_environ


HOST_CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize("cpu_args,cpus", [
    ([], HOST_CPUS),
    (["--cpuset-cpus", "0"], 1),  # the CPUs it may run on
    (["--cpus", "0.5"], 1),  # a CPU limit, rounded up
    (["--cpus", "1.5"], 2),
], ids=["unlimited", "cpuset-1", "cpus-0.5", "cpus-1.5"])
def test_workers_follow_the_cpus_the_container_may_use(image, start_container, cpu_args, cpus):
    """uWSGI: two workers per CPU; nginx: one."""
    if HOST_CPUS < cpus:
        pytest.skip("needs %d CPUs" % cpus)
    container = start_container(image, *cpu_args)
    container.wait_until_serving()
    assert len(uwsgi_workers(container)) == 2 * cpus, process_table(container)
    assert len(nginx_workers(container)) == cpus, process_table(container)


def test_uwsgi_cheaper_is_checked_against_the_processes_counted_per_cpu(image, start_container):
    container = start_container(image, "--cpuset-cpus", "0", *env(UWSGI_CHEAPER="2"))
    assert container.wait_exit(timeout=20) != 0
    logs = container.logs()
    assert entrypoint_lines(logs) == [
        '%s: UWSGI_CHEAPER="2": expected a whole number from 0, 0 or less than UWSGI_PROCESSES (2)' % ENTRYPOINT], logs
    assert "supervisord" not in logs


def test_uwsgi_cheaper_starts_fewer_workers(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)),
                                *env(UWSGI_PROCESSES="4", UWSGI_CHEAPER="1"))
    container.wait_until_serving()
    assert len(uwsgi_workers(container)) == 1, process_table(container)


def test_nginx_workers_connections_and_open_files_from_the_environment(image, start_container):
    container = start_container(image, *env(NGINX_WORKER_PROCESSES="3", NGINX_WORKER_CONNECTIONS="512",
                                            NGINX_WORKER_OPEN_FILES="2048"))
    container.wait_until_serving()
    workers = nginx_workers(container)
    assert len(workers) == 3, process_table(container)
    for pid in workers:
        limits = container.exec("cat", "/proc/%d/limits" % pid).stdout
        assert re.search(r"^Max open files\s+2048\s+2048", limits, re.M), limits
    dumped = container.exec("nginx", "-T", "-c", "/run/uwsgi-nginx/nginx.conf").stdout
    assert re.search(r"^\s*worker_connections 512;", dumped, re.M), dumped


def test_listen_port_from_the_environment(image, start_container):
    container = start_container(image, *env(LISTEN_PORT="8080"), *FAST_HEALTH, port=8080)
    status, _, body = container.wait_until_serving()
    assert status == 200 and body.startswith("Hello World")
    wait_for(lambda: container.health() == "healthy", 30, message="healthy on port 8080")


def test_max_upload_from_the_environment(image, start_container):
    default = start_container(image)
    limited = start_container(image, *env(NGINX_MAX_UPLOAD="1k"))
    unlimited = start_container(image, *env(NGINX_MAX_UPLOAD="0"))
    for container in (default, limited, unlimited):
        container.wait_until_serving()
    assert post(limited.url + "/", 512) == 200
    assert post(limited.url + "/", 2048) == 413
    assert post(default.url + "/", 512 * 1024) == 200
    assert post(default.url + "/", 2 * 1024 * 1024) == 413
    assert post(unlimited.url + "/", 2 * 1024 * 1024) == 200


def test_static_files_are_served_by_nginx(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"static/hello.txt": "static hello\n"})
    container = start_container(image, *mount(app))
    container.wait_until_serving()
    status, headers, body = container.get("/static/hello.txt")
    assert (status, body) == (200, "static hello\n")
    assert "X-Probe-Path" not in headers, "the app answered a static file"
    assert headers["ETag"] and headers["Last-Modified"]
    # Everything else still goes to the app, and a path just outside the directory with it.
    status, headers, body = container.get("/static../main.py")
    assert "def application" not in body
    assert headers["X-Probe-Path"] == "/static../main.py"


def test_static_url_path_and_index_from_the_environment(image, start_container, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>index</h1>\n")
    (site / "app.js").write_text("console.log(1)\n")
    site.chmod(0o755)
    container = start_container(image, *mount(app_dir(tmp_path)), *mount(site, "/srv/site"),
                                *env(STATIC_URL="/assets/", STATIC_PATH="/srv/site", STATIC_INDEX="true"))
    container.wait_until_serving()
    assert container.get("/assets/app.js")[2] == "console.log(1)\n"
    status, headers, body = container.get("/")
    assert (status, body) == (200, "<h1>index</h1>\n")
    assert "X-Probe-Path" not in headers
    assert container.get("/other")[1]["X-Probe-Path"] == "/other"


def test_app_uwsgi_ini_is_layered_on_the_defaults(image, start_container, tmp_path):
    app = app_dir(tmp_path, {
        "other.py": "def app(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'other app']\n",
        "uwsgi.ini": "[uwsgi]\nmodule = other\ncallable = app\n",
    })
    container = start_container(image, *mount(app))
    status, _, body = wait_for(lambda: container.get(), 30, message="an answer")
    assert (status, body) == (200, "other app"), container.logs()
    # The image's defaults still hold underneath: workers, socket, user.
    assert len(uwsgi_workers(container)) == 4


def test_uwsgi_ini_names_the_app_file(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"conf/app.ini": "[uwsgi]\nprocesses = 2\n"})
    container = start_container(image, *mount(app), *env(UWSGI_INI="/app/conf/app.ini"))
    container.wait_until_serving()
    assert len(uwsgi_workers(container)) == 2


def test_restarts_serve_the_same_configuration(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path, {"static/a.txt": "a"})),
                                *env(UWSGI_PROCESSES="3", NGINX_MAX_UPLOAD="5m", STATIC_URL="/files"))
    container.wait_until_serving()
    first = checksums(container)
    docker("stop", container.name)
    docker("start", container.name)
    container.wait_until_serving()
    assert checksums(container) == first
    for _ in range(10):
        docker("restart", container.name)
        container.wait_until_serving()
        assert checksums(container) == first
    assert len(uwsgi_workers(container)) == 3
    assert container.get("/files/a.txt")[2] == "a"


def test_an_empty_environment_renders_what_the_build_rendered(image, start_container, tmp_path):
    """One template, one set of defaults: at start, the entrypoint writes the same files the
    playbook wrote in the build (but for the header line), when the app has what the image's
    defaults point at (/app/uwsgi.ini, /app/static). The build's files stay as they were."""
    built = {path: docker("run", "--rm", "--entrypoint", "cat", image, path).stdout for path in BUILT_CONFIG_FILES}
    app = app_dir(tmp_path, {"uwsgi.ini": "[uwsgi]\n", "static/a.txt": "a"})
    container = start_container(image, *mount(app))
    container.wait_until_serving()
    for built_path, path in zip(BUILT_CONFIG_FILES, CONFIG_FILES):
        rendered = container.exec("cat", path).stdout
        assert rendered.splitlines()[0].startswith("# Written by %s" % ENTRYPOINT)
        assert rendered.splitlines()[1:] == built[built_path].splitlines()[1:], path
        assert container.exec("cat", built_path).stdout == built[built_path], built_path


# --- hooks and the app's own files ---------------------------------------------------------

def test_prestart_runs_before_the_services_with_its_own_interpreter(image, start_container, tmp_path):
    # Not executable: run by the interpreter its #! line names (Python code, which sh would fail on).
    app = app_dir(tmp_path, {"prestart.sh": (
        "#!/usr/bin/env python\n"
        "import sys\n"
        "open('/tmp/prestart-ran', 'w').write(sys.executable)\n"
        "print('prestart ran on Python %d' % sys.version_info[0])\n", 0o644)})
    container = start_container(image, *mount(app))
    container.wait_until_serving()
    logs = container.logs()
    assert "prestart ran on Python" in logs
    assert logs.index("prestart ran on Python") < logs.index("supervisord started")
    assert container.exec("cat", "/tmp/prestart-ran").stdout.startswith("/")


def test_pre_start_path_names_an_executable_hook(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"hooks/setup": ("#!/bin/sh\necho \"hook ran as $(id -un)\"\n", 0o755)})
    container = start_container(image, *mount(app), *env(PRE_START_PATH="/app/hooks/setup"))
    container.wait_until_serving()
    assert "hook ran as root" in container.logs()


def test_a_failing_prestart_stops_the_container_with_its_output(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"prestart.sh": ("#!/bin/sh\necho 'migration failed' >&2\nexit 3\n", 0o755)})
    container = start_container(image, *mount(app))
    assert container.wait_exit(timeout=20) == 3
    logs = container.logs()
    assert "migration failed" in logs
    assert "/app/prestart.sh exited with 3" in logs
    assert "supervisord" not in logs


def test_app_nginx_conf_replaces_the_generated_one(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"nginx.conf": (
        "user www-data;\n"
        "events {}\n"
        "http {\n"
        "    server {\n"
        "        listen 80;\n"
        "        location = /custom { return 200 'from /app/nginx.conf'; }\n"
        "        location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:/run/uwsgi/uwsgi.sock; }\n"
        "    }\n"
        "}\n")})
    container = start_container(image, *mount(app), *env(LISTEN_PORT="81"))
    wait_for(lambda: container.get("/custom"), 30, message="an answer")
    assert container.get("/custom")[2] == "from /app/nginx.conf"
    assert container.get("/x")[1]["X-Probe-Path"] == "/x"
    assert container.exec("cat", "/run/uwsgi-nginx/nginx.conf").stdout == (app / "nginx.conf").read_text()


def test_a_broken_app_nginx_conf_stops_the_container(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"nginx.conf": "events {}\nhttp { server { listen 80; bogus_directive on; } }\n"})
    container = start_container(image, *mount(app))
    assert container.wait_exit(timeout=20) != 0
    logs = container.logs()
    assert "nginx -t -q -g daemon off; -c /run/uwsgi-nginx/nginx.conf rejected the configuration" in logs
    assert "bogus_directive" in logs
    assert "supervisord" not in logs


def test_user_conf_d_files_are_included_and_left_alone(image, start_container, tmp_path):
    extra = tmp_path / "extra.conf"
    extra.write_text("server {\n    listen 8081;\n    location / { return 200 'extra server'; }\n}\n")
    container = start_container(image, "--volume", "%s:/etc/nginx/conf.d/extra.conf" % extra, port=8081)
    wait_for(lambda: http_get(container.url + "/"), 30, message="an answer on 8081")
    assert container.get("/")[2] == "extra server"
    docker("restart", container.name)
    wait_for(lambda: http_get(container.url + "/"), 30, message="an answer on 8081 after a restart")
    assert extra.read_text().startswith("server {\n    listen 8081;")
    assert container.exec("ls", "/etc/nginx/conf.d").stdout.split() == ["extra.conf"]


# --- health and lifecycle -----------------------------------------------------------------

def test_the_image_declares_its_health_check(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["Healthcheck"]["Test"] == ["CMD", "uwsgi-nginx-healthcheck"]
    assert config["Entrypoint"] == [ENTRYPOINT] and config["Cmd"] == ["run-supervisord"]


def test_health_follows_uwsgi(image, start_container):
    container = start_container(image, *FAST_HEALTH)
    container.wait_until_serving()
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")
    container.exec("supervisorctl", "stop", "uwsgi")
    wait_for(lambda: container.health() == "unhealthy", 30, message="unhealthy without uWSGI")
    assert container.get()[0] == 502  # uWSGI unreachable: 502, not the 500 of an app that raises
    container.exec("supervisorctl", "start", "uwsgi")
    wait_for(lambda: container.health() == "healthy", 30, message="healthy again")
    # The probes are not in the access log; the request above is (within the log's 1 s flush).
    wait_for(lambda: '"GET / HTTP/1.1" 502' in container.logs(), 10, message="the 502 in the access log")
    assert "uwsgi-nginx-healthcheck" not in container.logs()


def test_an_app_without_the_callable_exits_within_seconds(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"main.py": "web = None  # neither 'application' nor 'app' here\n"})
    started = time.monotonic()
    container = start_container(image, *mount(app))
    assert container.wait_exit(timeout=30) != 0
    assert time.monotonic() - started < 15
    logs = container.logs()
    assert "stopped because uwsgi" in logs


def test_docker_run_with_another_command_runs_it_as_given(image):
    result = docker("run", "--rm", "--env", "UWSGI_PROCESSES=abc", image, "python", "-c", "print('as given')")
    assert result.stdout.strip() == "as given"


def _load_until(address, stop, results):
    """One request per connection to /slow until stop is set; records (outcome, when the
    connection was accepted). 'refused': never accepted (nginx no longer listening)."""
    while not stop.is_set():
        connection = http.client.HTTPConnection(address, 80, timeout=15)
        try:
            connection.connect()
        except (ConnectionRefusedError, socket.timeout, OSError):
            results.append(("refused", None))
            time.sleep(0.05)
            continue
        accepted = time.monotonic()
        try:
            connection.request("GET", "/slow?seconds=0.3", headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read()
            outcome = "ok" if response.status == 200 and body == b"slept 0.3" else "bad %d %r" % (
                response.status, body[:80])
        except Exception as error:
            outcome = "failed %r" % error
        finally:
            connection.close()
        results.append((outcome, accepted))


@pytest.mark.exclusive
def test_docker_stop_under_load_finishes_every_accepted_request(image, start_container, tmp_path):
    """Every request whose connection was accepted before `docker stop` was called gets its
    complete answer; the ones after that may be refused (nginx stops listening first)."""
    container = start_container(image, *mount(app_dir(tmp_path)), *env(UWSGI_PROCESSES="8"))
    container.wait_until_serving()
    address = container.ip
    stop, results = threading.Event(), []
    clients = [threading.Thread(target=_load_until, args=(address, stop, results)) for _ in range(8)]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: [outcome for outcome, _ in results].count("ok") >= 16, 30,
                 message="requests answered under load")
        stop_called = time.monotonic()
        result = docker("stop", "--time", "10", container.name)
        stop_seconds = time.monotonic() - stop_called
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
    before_stop = [outcome for outcome, accepted in results if accepted is not None and accepted < stop_called]
    failures = [outcome for outcome in before_stop if outcome != "ok"]
    assert result.returncode == 0
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()
    assert len(before_stop) >= 16 and failures == [], failures
    assert stop_seconds < 8, "docker stop took %.1f s" % stop_seconds


def test_a_drain_on_stop_serves_on_while_the_health_check_says_stopping(image, start_container, tmp_path):
    """DRAIN_SECONDS=6: after docker stop's SIGTERM the container answers for 6 more seconds,
    its health check failing with "stopping", then stops as without a drain: exit 0."""
    container = start_container(image, *mount(app_dir(tmp_path)), *env(DRAIN_SECONDS="6"), *FAST_HEALTH)
    container.wait_until_serving()
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")
    stopped = []
    stopper = threading.Thread(target=lambda: stopped.append(docker("stop", "--time", "30", container.name)))
    signalled = time.monotonic()
    stopper.start()
    wait_for(lambda: "uwsgi-nginx-drain: stopping in 6 seconds" in container.logs(), 5, message="the drain")
    probe = container.exec("uwsgi-nginx-healthcheck", check=False)
    assert (probe.returncode, probe.stdout.strip()) == (1, "unhealthy: stopping (uwsgi-nginx-drain)")
    wait_for(lambda: container.health() == "unhealthy", 5, message="docker to see the container unhealthy")
    answers = []
    while time.monotonic() - signalled < 5:
        answers.append(container.get("/wsgi")[0])
    stopper.join(timeout=40)
    elapsed = time.monotonic() - signalled
    assert answers and set(answers) == {200}, answers
    assert stopped[0].returncode == 0 and container.inspect()["State"]["ExitCode"] == 0, container.logs()
    assert 6 <= elapsed < 6 + 8, "docker stop took %.1f s" % elapsed


def test_a_restart_after_a_drain_is_healthy_again(image, start_container, tmp_path):
    """docker restart keeps /run: the mark of the last stop's drain must not outlive it."""
    container = start_container(image, *mount(app_dir(tmp_path)), *env(DRAIN_SECONDS="1"), *FAST_HEALTH)
    container.wait_until_serving()
    assert docker("restart", "--time", "20", container.name).returncode == 0
    container.wait_until_serving()
    assert container.exec("uwsgi-nginx-healthcheck", check=False).returncode == 0, container.logs()


# --- as a base image ----------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "flask"


def build_flask_example(image, python, build_ca, start_container):
    """examples/flask, as the README shows it, built FROM image (Python python) and run."""
    tag = image + "-flask"
    result = docker_build_context(build_ca, EXAMPLE, "--build-arg", "BASE_IMAGE=" + image, "--tag", tag, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    try:
        container = start_container(tag)
        status, _, body = container.wait_until_serving()
        flask_line = "1.1.4" if python == "2.7" else "3.1."
        assert body.startswith("Hello from Flask %s" % flask_line) and body.endswith("on Python " + python), body
        # The stylesheet comes from nginx (its ETag is mtime-size in hex), not from Flask's own
        # static route, which the request would reach through uWSGI otherwise.
        css = (EXAMPLE / "app" / "static" / "style.css").stat().st_size
        status, headers, _ = container.get("/static/style.css")
        assert status == 200 and re.match(r'^"[0-9a-f]+-%x"$' % css, headers["ETag"]), dict(headers)
        assert "prestart: Flask app starting" in container.logs()
    finally:
        docker("rmi", "--force", tag, check=False)


def test_the_flask_example_builds_on_the_image(image, build_ca, start_container):
    build_flask_example(image, python_version(PYTHON_IMAGE), build_ca, start_container)
