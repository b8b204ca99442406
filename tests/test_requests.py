"""Requests and environments real deployments produce (issue 16): big cookies and query strings,
many headers, a Host with a port, a Proxy header, what a Kubernetes Service or a Docker link
named uwsgi injects, a /run too small, `docker kill -s HUP`. The app (tests/apps/probe) tells
what it saw (/wsgi: its WSGI environ). Raw requests go to the container's port on 127.0.0.1."""
import http.client
import json
import os
import threading

import pytest

from harness.docker_client import docker
from harness.waits import wait_for
from test_hostile import exchange, status_of
from test_runtime import app_dir, env, is_uwsgi, mount, nginx_workers, process_table, uwsgi_workers
from test_security import READ_ONLY


def request(port, path="/wsgi", headers=(), host="127.0.0.1"):
    """A GET over a raw socket; returns (status, the WSGI environ the app saw when path is /wsgi's,
    raw response)."""
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Connection: close"]
    lines += ["%s: %s" % header for header in headers]
    response, _ = exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    status = status_of(response)
    body = response.partition(b"\r\n\r\n")[2]
    environ = json.loads(body.decode("utf-8")) if status == 200 and path.startswith("/wsgi") else None
    return status, environ, response


# --- what nginx accepts reaches the app; what it does not gets nginx's own 4xx ----------------

def filler(size, letter="a"):
    return letter * size


BIG_REQUESTS = {
    "cookie of 3.8 KB": ([("Cookie", "session=" + filler(3800))], "/wsgi"),
    "cookie of 7 KB": ([("Cookie", "session=" + filler(7000))], "/wsgi"),
    "query string of 6,000 characters": ([], "/wsgi?q=" + filler(6000)),
    "150 headers": ([("X-Header-%03d" % n, filler(40)) for n in range(150)], "/wsgi"),
    "600 short headers": ([("X-%04d" % n, "v") for n in range(600)], "/wsgi"),
    # A request line and three more header lines of almost 8 KB: nginx's four 8 KB buffers full.
    "the largest nginx accepts": ([("X-Big-%d" % n, filler(8000)) for n in range(3)], "/wsgi?q=" + filler(8000)),
    "URI of 8,100 characters": ([], "/wsgi?q=" + filler(8100)),
}


@pytest.mark.parametrize("headers, path", list(BIG_REQUESTS.values()), ids=list(BIG_REQUESTS))
def test_a_request_nginx_accepts_reaches_the_app_whole(probe, headers, path):
    status, environ, response = request(probe.port, path, headers)
    assert status == 200, response[:300]
    for name, value in headers:
        assert environ["HTTP_" + name.upper().replace("-", "_")] == value
    assert environ["REQUEST_URI"] == path
    assert request(probe.port, "/")[0] == 200


TOO_BIG = {
    "URI of 9,000 characters": ([], "/wsgi?q=" + filler(9000), 414),
    "a header of 9,000 bytes": ([("Cookie", filler(9000))], "/wsgi", 400),
    "five headers of 8,000 bytes": ([("X-Big-%d" % n, filler(8000)) for n in range(5)], "/wsgi", 400),
}


@pytest.mark.parametrize("headers, path, expected", list(TOO_BIG.values()), ids=list(TOO_BIG))
def test_a_request_nginx_refuses_gets_its_own_4xx_never_500(probe, headers, path, expected):
    status, _, response = request(probe.port, path, headers)
    assert status == expected, response[:300]
    assert request(probe.port, "/")[0] == 200


# --- the Host, nginx's redirects, httpoxy -------------------------------------------------

def test_the_app_sees_the_host_and_port_the_client_sent(probe):
    status, environ, _ = request(probe.port, host="127.0.0.1:%d" % probe.port)
    assert status == 200
    assert environ["HTTP_HOST"] == "127.0.0.1:%d" % probe.port
    assert request(probe.port, host="www.example.test:8443")[1]["HTTP_HOST"] == "www.example.test:8443"


def test_nginx_redirects_keep_the_clients_host_and_port(probe):
    # A directory without its slash: nginx's own 301, with a path alone, whatever Host claimed.
    status, _, response = request(probe.port, "/static/css", host="evil.example.test")
    assert status == 301, response[:300]
    headers = response.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert "Location: /static/css/" in headers, headers


def test_a_proxy_header_does_not_reach_the_app_as_http_proxy(probe):
    status, environ, _ = request(probe.port, headers=[("Proxy", "http://attacker.example.test:3128")])
    assert status == 200
    assert environ.get("HTTP_PROXY", "") == ""


# --- static files ---------------------------------------------------------------------------

def test_static_files_are_safe_by_default_and_each_default_can_be_relaxed(image, start_container, tmp_path):
    app = app_dir(tmp_path, {"static/a.txt": "a", "static/.env": "SECRET=1", "static/.git/config": "[core]"})
    os.symlink("/etc/passwd", str(app / "static" / "passwd"))
    os.symlink("a.txt", str(app / "static" / "b.txt"))
    safe = start_container(image, *mount(app))
    relaxed = start_container(image, *mount(app), *env(STATIC_FOLLOW_SYMLINKS="1", STATIC_DOTFILES="yes"))
    for container in (safe, relaxed):
        container.wait_until_serving()
        assert container.get("/static/a.txt")[::2] == (200, "a")
    assert [safe.get(path)[0] for path in ("/static/passwd", "/static/b.txt")] == [403, 403]
    assert [safe.get(path)[0] for path in ("/static/.env", "/static/.git/config")] == [404, 404]
    passwd = relaxed.get("/static/passwd")
    assert passwd[0] == 200 and passwd[2].startswith("root:"), passwd
    assert relaxed.get("/static/b.txt")[::2] == (200, "a")
    assert relaxed.get("/static/.env")[::2] == (200, "SECRET=1")


# --- the environment an orchestrator gives ------------------------------------------------

# Exactly what Kubernetes injects for Services named uwsgi and uwsgi-nginx (service links, on by
# default) with a port named http, and Docker for a link aliased uwsgi to a container with LANG set.
INJECTED = {
    "UWSGI_SERVICE_HOST": "10.96.0.12", "UWSGI_SERVICE_PORT": "80", "UWSGI_SERVICE_PORT_HTTP": "80",
    "UWSGI_PORT": "tcp://10.96.0.12:80", "UWSGI_PORT_80_TCP": "tcp://10.96.0.12:80",
    "UWSGI_PORT_80_TCP_PROTO": "tcp", "UWSGI_PORT_80_TCP_PORT": "80", "UWSGI_PORT_80_TCP_ADDR": "10.96.0.12",
    "UWSGI_NGINX_SERVICE_HOST": "10.96.0.13", "UWSGI_NGINX_SERVICE_PORT": "80",
    "UWSGI_NGINX_SERVICE_PORT_HTTP": "80", "UWSGI_NGINX_PORT": "tcp://10.96.0.13:80",
    "UWSGI_NGINX_PORT_80_TCP": "tcp://10.96.0.13:80", "UWSGI_NGINX_PORT_80_TCP_PROTO": "tcp",
    "UWSGI_NGINX_PORT_80_TCP_PORT": "80", "UWSGI_NGINX_PORT_80_TCP_ADDR": "10.96.0.13",
    "UWSGI_NAME": "/web/uwsgi", "UWSGI_ENV_LANG": "C.UTF-8",
}


def test_what_services_and_links_named_uwsgi_inject_does_not_stop_the_container(image, start_container, tmp_path):
    # UWSGI_ENV, a real uWSGI option (env), still reaches uWSGI: it sets PROBE_MARK in the workers.
    container = start_container(image, *mount(app_dir(tmp_path)), *env(UWSGI_ENV="PROBE_MARK=seen", **INJECTED))
    container.wait_until_serving()
    seen = json.loads(container.get("/environ")[2])
    assert seen.get("PROBE_MARK") == "seen", seen
    assert not set(INJECTED) & set(seen), seen
    assert "not passed to uWSGI" in container.logs()


# --- worker memory guards -----------------------------------------------------------------

# uWSGI replaces a worker for either guard only once it has lived min-worker-lifetime (60 s by
# default): 1 s here, through UWSGI_MIN_WORKER_LIFETIME, an option uWSGI reads itself.
GUARDED = {"UWSGI_PROCESSES": "1", "UWSGI_MIN_WORKER_LIFETIME": "1"}


def test_max_requests_replaces_a_worker_after_that_many(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)), *env(UWSGI_MAX_REQUESTS="3", **GUARDED))
    container.wait_until_serving()
    first = container.get("/pid")[2]
    wait_for(lambda: container.get("/pid")[2] != first, 15, message="a new worker")
    # The new worker is at least 1 s old after 1 s: its third answer is its last.
    second = container.get("/pid")[2]
    wait_for(lambda: container.get("/pid")[2] != second, 15, message="another new worker")


def test_reload_on_rss_replaces_a_worker_grown_past_it(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)), *env(UWSGI_RELOAD_ON_RSS="64", **GUARDED))
    container.wait_until_serving()
    before = container.get("/pid")[2]
    assert container.get("/grow?mb=100")[0] == 200
    wait_for(lambda: container.get("/pid")[2] != before, 15, message="a new worker")


# --- errors and signals -------------------------------------------------------------------

def test_a_run_too_small_stops_the_container_with_one_line(image, start_container):
    container = start_container(image, "--tmpfs", "/run:size=4k")
    assert container.wait_exit(timeout=30) == 1
    logs = container.logs()
    assert "Traceback" not in logs, logs
    [line] = [line for line in logs.splitlines() if line.strip()]
    assert line.startswith("uwsgi-nginx-entrypoint: cannot write /run/"), logs


def test_hup_reloads_nginx_and_uwsgi_gracefully(probe):
    """docker kill -s HUP: both reload their workers (new worker pids), their masters stay, and
    every request sent meanwhile is answered."""
    def masters():
        table = process_table(probe)
        return sorted(pid for pid, _, cmd in table if cmd.startswith("nginx: master") or (
            is_uwsgi(cmd) and pid not in uwsgi_workers(probe)))

    masters_before, workers_before = masters(), set(uwsgi_workers(probe) + nginx_workers(probe))
    statuses, stop = [], threading.Event()

    def client():
        while not stop.is_set() and len(statuses) < 2000:
            response = probe.get("/")
            statuses.append(response[0] if response else None)
    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: len(statuses) >= 20, 30, message="requests before the HUP")
        docker("kill", "--signal", "HUP", probe.name)

        def reloaded():
            uwsgi, nginx = set(uwsgi_workers(probe)), set(nginx_workers(probe))
            return uwsgi and nginx and not (uwsgi | nginx) & workers_before
        wait_for(reloaded, 30, message="new workers of both")
        count = len(statuses)
        wait_for(lambda: len(statuses) >= count + 20, 30, message="requests after the HUP")
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)
    assert probe.running()
    assert masters() == masters_before
    assert statuses and set(statuses) == {200}, [status for status in statuses if status != 200]


def memory_peak(container):
    """The most memory the container's cgroup has held (tmpfs pages included), in bytes."""
    script = "cat /sys/fs/cgroup/memory.peak 2>/dev/null || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes"
    return int(container.exec("sh", "-c", script).stdout)


@pytest.mark.exclusive
def test_the_read_only_recipe_bounds_memory_under_an_upload_storm(image, start_container, tmp_path):
    """docs/security.md's read-only recipe: 1,000 uploads of 1 MB at once while the app's two
    workers are busy, so that nginx spools every body into /run: the container grows by less
    than its tmpfs sizes (256 + 64 MiB) and a margin, the uploads /run cannot hold get 500, and
    nginx serves on. (Without the sizes, every body was spooled, and the container grew by all.)"""
    container = start_container(image, *mount(app_dir(tmp_path, {"static/a.txt": "a"})), *READ_ONLY,
                                *env(UWSGI_PROCESSES="2"))
    container.wait_until_serving()
    baseline = memory_peak(container)
    body = b"x" * 1000000
    statuses = []

    def upload():
        connection = http.client.HTTPConnection("127.0.0.1", container.port, timeout=20)
        try:
            connection.request("POST", "/hang", body=body)
            statuses.append(connection.getresponse().status)
        except (OSError, http.client.HTTPException) as error:
            statuses.append(type(error).__name__)
        finally:
            connection.close()
    uploads = [threading.Thread(target=upload) for _ in range(1000)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join(120)
    growth_mib = (memory_peak(container) - baseline) / 2.0 ** 20
    summary = sorted((str(status), statuses.count(status)) for status in set(statuses))
    assert len(statuses) == 1000 and statuses.count(500) > 0, summary
    assert growth_mib < 256 + 64 + 48, (growth_mib, summary)
    assert container.get("/static/a.txt")[::2] == (200, "a")
