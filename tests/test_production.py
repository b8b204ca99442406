"""What production needs (issue 29), through real requests, in one container and split (run-nginx
in front of run-uwsgi), on the default Python and 3.14:
- the access log (NGINX_ACCESS_LOG): nginx's combined format, one JSON object a line, or none,
  errors still logged;
- the scheme the app sees: X-Forwarded-Proto taken from the proxies NGINX_REAL_IP_FROM trusts,
  and only from them; X-Forwarded-Ssl (which uWSGI also takes as the scheme) from no one; the
  same through the WebSocket proxy;
- the metrics (METRICS_PORT): Prometheus's text on that port only, each container its own
  programs', counters that grow with the requests, workers busy while a request runs,
  exceptions and respawns counted; none by default.
(TLS: tests/test_tls.py.)"""
import json
import threading
import urllib.error
import urllib.request
import uuid

import pytest

from harness.docker_client import docker
from harness.waits import wait_for
from test_requests import request
from test_runtime import FAST_HEALTH, app_dir, env, mount
from websocket_client import TEXT, WebSocket

UWSGI_PORT, WEBSOCKET_PORT = 3031, 3032
# What a client may send to pass for HTTPS: uWSGI takes either as the request's scheme.
SPOOFED_SCHEME = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on")]
# A user agent and a referer that a log line must escape.
AWKWARD = 'probe "quoted" \\ back\tslash'


@pytest.fixture
def app(tmp_path):
    return app_dir(tmp_path)


@pytest.fixture
def nginx_in_front(docker_network, start_container, image_per_python, app):
    """start(*nginx docker run args, uwsgi_args=()) -> (nginx, uwsgi): run-nginx published on
    127.0.0.1, in front of run-uwsgi serving the probe app, on a network of their own."""
    def start(*nginx_args, uwsgi_args=()):
        uwsgi = start_container(image_per_python, "--network", docker_network, "--network-alias", "uwsgi",
                                *mount(app), *FAST_HEALTH,
                                *env(UWSGI_SOCKET=":%d" % UWSGI_PORT, UWSGI_WEBSOCKET_SOCKET=":%d" % WEBSOCKET_PORT),
                                *uwsgi_args, command=["run-uwsgi"], port=UWSGI_PORT)
        nginx = start_container(image_per_python, "--network", docker_network, *FAST_HEALTH,
                                *env(NGINX_UWSGI_SOCKET="uwsgi:%d" % UWSGI_PORT,
                                     NGINX_UWSGI_WEBSOCKET_SOCKET="uwsgi:%d" % WEBSOCKET_PORT),
                                *nginx_args, command=["run-nginx"])
        return nginx, uwsgi
    return start


def all_in_one(start_container, image_per_python, app):
    def start(*args):
        container = start_container(image_per_python, *mount(app), *args)
        return container, container
    return start


@pytest.fixture(params=["all-in-one", "split"])
def serving(request, start_container, image_per_python, app):
    """start(*args) -> (the container nginx runs in, the one uWSGI runs in), serving."""
    if request.param == "all-in-one":
        start = all_in_one(start_container, image_per_python, app)
    else:
        start = request.getfixturevalue("nginx_in_front")

    def serving_start(*args):
        nginx, uwsgi = start(*args)
        nginx.wait_until_serving()
        return nginx, uwsgi
    return serving_start


def logged_after_stop(container):
    """The container's log once it has stopped gracefully: nginx writes its buffered access log
    lines as it exits."""
    docker("stop", container.name)
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()
    return container.logs().splitlines()


# --- the access log -----------------------------------------------------------------------

def refused_as_too_large(port):
    """A request nginx refuses (413) and logs as an error: a body above NGINX_MAX_UPLOAD."""
    status = request(port, "/", headers=[("Content-Length", "2000000")])[0]
    assert status == 413


def test_the_access_log_as_one_json_object_a_line(serving):
    nginx, _ = serving(*env(NGINX_ACCESS_LOG="json"))
    request_id = uuid.uuid4().hex
    status, environ, _ = request(nginx.port, "/wsgi?q=1&r=%22", headers=[
        ("X-Request-ID", request_id), ("User-Agent", AWKWARD), ("Referer", 'http://example.test/"x"')])
    assert status == 200, environ
    lines = logged_after_stop(nginx)
    [line] = [line for line in lines if request_id in line]
    entry = json.loads(line)
    assert entry["request_id"] == request_id
    assert entry["method"] == "GET" and entry["uri"] == "/wsgi?q=1&r=%22" and entry["status"] == 200
    assert entry["client"] == environ["REMOTE_ADDR"]
    assert entry["user_agent"] == AWKWARD and entry["referer"] == 'http://example.test/"x"'
    assert entry["bytes_sent"] > 0 and entry["request_time"] >= 0 and float(entry["upstream_time"]) >= 0
    assert entry["time"][:4].isdigit() and "T" in entry["time"]


@pytest.mark.parametrize("format, logged", [("main", 1), ("off", 0)])
def test_the_access_log_in_nginx_s_format_or_off_errors_logged_either_way(serving, format, logged):
    nginx, _ = serving(*env(NGINX_ACCESS_LOG=format))
    request_id = uuid.uuid4().hex
    assert request(nginx.port, "/", headers=[("X-Request-ID", request_id)])[0] == 200
    refused_as_too_large(nginx.port)
    lines = logged_after_stop(nginx)
    assert len([line for line in lines if request_id in line and '"GET / HTTP/1.1" 200' in line]) == logged, lines
    assert [line for line in lines if "[error]" in line and "client intended to send too large body" in line], lines


def test_a_bad_access_log_format_stops_the_start_naming_the_variable(start_container, image_per_python):
    container = start_container(image_per_python, *env(NGINX_ACCESS_LOG="yaml"))
    assert container.wait_exit(timeout=20) != 0
    assert 'NGINX_ACCESS_LOG="yaml": expected main, json or off' in container.logs()


# --- the scheme ---------------------------------------------------------------------------

def scheme_seen(environ):
    """What the app was told of the request's scheme: wsgi.url_scheme, HTTPS, the two headers."""
    return tuple(environ.get(name) for name in (
        "wsgi.url_scheme", "HTTPS", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SSL"))


def seen_over_http(port, headers):
    status, environ, response = request(port, "/wsgi", headers=headers)
    assert status == 200, response
    return scheme_seen(environ)


def seen_over_a_websocket(port, headers):
    socket = WebSocket(port, "/websocket", headers=headers)
    assert socket.status == 101
    socket.send("wsgi")
    kind, message = socket.receive()
    assert kind == TEXT and socket.close()
    environ = json.loads(message.decode("utf-8"))
    return environ["wsgi.url_scheme"], environ.get("HTTP_X_FORWARDED_PROTO"), environ.get("HTTP_X_FORWARDED_SSL")


def seen_from_inside(container):
    """The spoofing headers from inside nginx's container: over loopback, never a trusted proxy."""
    return scheme_seen(json.loads(container.fetch_inside("http://127.0.0.1/wsgi", dict(SPOOFED_SCHEME))))


def test_no_client_sets_the_scheme_when_no_proxy_is_trusted(serving):
    nginx, _ = serving()
    assert seen_over_http(nginx.port, SPOOFED_SCHEME) == ("http", None, "http", None)
    assert seen_over_a_websocket(nginx.port, SPOOFED_SCHEME) == ("http", "http", None)


def test_a_trusted_proxy_sets_the_scheme_and_no_one_else_does(serving):
    untrusting, _ = serving()
    # How the tests' connections arrive (Docker's proxy or gateway): the proxy to trust.
    proxy = request(untrusting.port)[1]["REMOTE_ADDR"]
    nginx, _ = serving(*env(NGINX_REAL_IP_FROM="%s/32,10.0.0.0/8" % proxy))

    assert seen_over_http(nginx.port, [("X-Forwarded-Proto", "https")]) == ("https", "on", "https", None)
    assert seen_over_http(nginx.port, [("X-Forwarded-Proto", "HTTPS")]) == ("https", "on", "https", None)
    assert seen_over_http(nginx.port, [("X-Forwarded-Proto", "http"), ("X-Forwarded-Ssl", "on")]) == (
        "http", None, "http", None)
    # Nothing said, or nonsense: the connection's.
    assert seen_over_http(nginx.port, []) == ("http", None, "http", None)
    assert seen_over_http(nginx.port, [("X-Forwarded-Proto", "gopher")]) == ("http", None, "http", None)
    assert seen_over_a_websocket(nginx.port, SPOOFED_SCHEME) == ("https", "https", None)
    # The same headers from an address not trusted: ignored.
    assert seen_from_inside(nginx) == ("http", None, "http", None)


# --- the metrics --------------------------------------------------------------------------

METRICS_PORT = 9117
METRICS = env(METRICS_PORT=str(METRICS_PORT))


def address_of(container):
    """The container's address on its (first) network: the tests reach it there directly."""
    return list(container.inspect()["NetworkSettings"]["Networks"].values())[0]["IPAddress"]


def scrape(container, port=METRICS_PORT):
    """{sample: value} of the container's metrics ('name' or 'name{labels}')."""
    url = "http://%s:%d/metrics" % (address_of(container), port)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = response.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def total(samples, prefix):
    return sum(value for name, value in samples.items() if name.startswith(prefix))


def grew(container, before, prefix, by):
    """Waits until the sum of prefix's samples is at least by above before's; returns the scrape."""
    return wait_for(lambda: (lambda now: now if total(now, prefix) >= total(before, prefix) + by else None)(
        scrape(container)), 15, message="%s up by %d" % (prefix, by))


def test_no_metrics_and_no_exporter_by_default(start_container, image_per_python, app):
    container = start_container(image_per_python, *mount(app))
    container.wait_until_serving()
    assert [command for _, _, _, command in container.processes() if "uwsgi-nginx-metrics" in command] == []
    listening = container.exec("sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null").stdout
    assert ":%04X " % METRICS_PORT not in listening


def test_the_metrics_of_nginx_and_uwsgi_grow_with_the_requests(start_container, image_per_python, app):
    container = start_container(image_per_python, *mount(app), *METRICS, *env(UWSGI_PROCESSES="2"))
    container.wait_until_serving()
    before = scrape(container)
    assert before["nginx_up"] == 1 and before["uwsgi_up"] == 1
    assert total(before, "uwsgi_workers{") == 2
    # Under a load of 4 clients, 50 requests each, scraped while it runs.
    answers = []
    clients = [threading.Thread(target=lambda: answers.extend(request(container.port, "/")[0] for _ in range(50)))
               for _ in range(4)]
    for client in clients:
        client.start()
    during = [scrape(container) for _ in range(3)]
    for client in clients:
        client.join()
    assert answers == [200] * 200 and all(samples["uwsgi_up"] == 1 for samples in during)
    after = grew(container, before, "nginx_http_requests_total", 200)
    assert total(after, "uwsgi_worker_requests_total") >= total(before, "uwsgi_worker_requests_total") + 200
    assert after["nginx_connections_accepted_total"] >= before["nginx_connections_accepted_total"] + 200

    # A request that runs: a busy worker; one that raises: an exception; one that kills its
    # worker: a respawn.
    slow = threading.Thread(target=request, args=(container.port, "/slow?seconds=4"))
    slow.start()
    wait_for(lambda: scrape(container).get('uwsgi_workers{status="busy"}', 0) >= 1, 10, message="a busy worker")
    slow.join()
    assert request(container.port, "/raise")[0] == 500
    grew(container, after, "uwsgi_worker_exceptions_total", 1)
    assert request(container.port, "/die")[0] in (500, 502)
    grew(container, after, "uwsgi_worker_respawns_total", 1)

    # The app's port serves the app's /metrics; the metrics port serves nothing else.
    status, _, response = request(container.port, "/metrics")
    assert status == 200 and b"X-Probe-Path: /metrics" in response
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen("http://%s:%d/" % (address_of(container), METRICS_PORT), timeout=10)
    assert refused.value.code == 404

    # The exporter runs as the workers' user, and stops with the container, which stops as before.
    [user] = [uid for _, _, uid, command in container.processes() if "uwsgi-nginx-metrics" in command]
    assert user == container.exec("id", "-u", "uwsgi").stdout.strip()
    assert logged_after_stop(container)


def test_each_split_container_exports_its_own_program_s_metrics(nginx_in_front):
    nginx, uwsgi = nginx_in_front(*METRICS, uwsgi_args=METRICS)
    nginx.wait_until_serving()
    nginx_before, uwsgi_before = scrape(nginx), scrape(uwsgi)
    assert nginx_before["nginx_up"] == 1 and "uwsgi_up" not in nginx_before
    assert uwsgi_before["uwsgi_up"] == 1 and "nginx_up" not in uwsgi_before
    for _ in range(50):
        assert request(nginx.port, "/")[0] == 200
    grew(nginx, nginx_before, "nginx_http_requests_total", 50)
    grew(uwsgi, uwsgi_before, "uwsgi_worker_requests_total", 50)


def test_the_metrics_as_a_user_other_than_root(start_container, image_per_python, app):
    container = start_container(image_per_python, "--user", "10001", *mount(app), *METRICS,
                                *env(LISTEN_PORT="8080"), port=8080)
    container.wait_until_serving()
    samples = scrape(container)
    assert samples["nginx_up"] == 1 and samples["uwsgi_up"] == 1


@pytest.mark.parametrize("value, message", [
    ("80", "METRICS_PORT=80: expected a port other than LISTEN_PORT's"),
    ("http", 'METRICS_PORT="http": expected a whole number from 0 to 65535'),
])
def test_a_bad_metrics_port_stops_the_start_naming_the_variable(start_container, image_per_python, value, message):
    container = start_container(image_per_python, *env(METRICS_PORT=value))
    assert container.wait_exit(timeout=20) != 0
    assert message in container.logs()
