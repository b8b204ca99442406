"""nginx's kept connections to uWSGI (NGINX_UWSGI_KEEPALIVE), as the image's uWSGI serves them:
a worker answers new connections while one it answered stays open
(roles/uwsgi/files/patches/http11-kept-connections-wait-in-the-queue.patch); nginx keeps its
connections to a socket of each worker's own and answers clients at once, without a stall; the
app sees each request as over the uwsgi protocol (http11-vars-socket.patch), which no client
can forge; what the setting needs is named at start. uWSGI's socket-timeout is longer than the
clients wait here: a worker held by an idle connection shows as a client's timeout, not as a
slow answer. On the default Python, and on 3.14 when that is 2.7."""
import http.client
import json
import socket
import sys

import pytest

import wrk
from harness.config import REPO
from harness.docker_client import docker
from harness.requesters import Requesters
from harness.waits import wait_for
from test_runtime import ENTRYPOINT, FAST_HEALTH, app_dir, entrypoint_lines, env, mount

sys.path.insert(0, str(REPO / "tests" / "bench"))
import bench  # noqa: E402

CLIENT = (REPO / "tests" / "kept_client.py").read_text()
SOCKET_TIMEOUT = 60


def run_client(container, *arguments):
    return json.loads(container.exec("python", "-c", CLIENT, *arguments).stdout)


def app_ini(tmp_path, lines):
    path = tmp_path / "kept.ini"
    path.write_text("[uwsgi]\nsocket-timeout = %d\n%s" % (SOCKET_TIMEOUT, "".join(lines)))
    path.chmod(0o644)
    return path


def test_a_worker_answers_new_connections_while_one_it_answered_stays_open(image_per_python, start_container, tmp_path):
    ini = app_ini(tmp_path, ["http11-socket = %s\n" % bench.PEER_SOCKET_PATH])
    container = start_container(image_per_python, *mount(app_dir(tmp_path)), "--volume", "%s:/kept.ini:ro" % ini,
                                "--volume", "/run/bench", *env(UWSGI_PROCESSES=1, UWSGI_INI="/kept.ini"))
    container.wait_until_serving()

    report = run_client(container, "idle-worker", bench.PEER_SOCKET_PATH)

    assert "error" not in report, (report, container.logs())
    answers = [report[step] for step in ("first", "second_while_first_idle", "first_again",
                                         "second_after_first_closed")]
    assert [status for status, _, _ in answers] == [200] * 4
    # One worker answered all four, the second connection's while the first stayed open.
    assert len({body for _, body, _ in answers}) == 1


def test_nginx_keeps_connections_to_each_workers_socket_without_a_stall(image_per_python, start_container, tmp_path):
    workers, clients, requests_each = 2, 8, 50
    ini = app_ini(tmp_path, [])
    container = start_container(image_per_python, *FAST_HEALTH, *mount(app_dir(tmp_path)),
                                "--volume", "%s:/kept.ini:ro" % ini,
                                *env(NGINX_UWSGI_KEEPALIVE="on", UWSGI_PROCESSES=workers, UWSGI_INI="/kept.ini"))
    container.wait_until_serving()
    # Numbered after the uwsgi and WebSocket sockets; each worker says so once it has started.
    mapped = ["mapped socket %d (/run/uwsgi/kept-%d.sock) to worker %d" % (worker + 1, worker, worker)
              for worker in range(1, workers + 1)]
    wait_for(lambda: all(line in container.logs() for line in mapped), 10, message="each kept socket mapped")

    report = run_client(container, "many-clients", "127.0.0.1:80", str(clients), str(requests_each))

    assert report["errors"] == [], (report["errors"], container.logs())
    assert [status for status, _, _ in report["answers"]] == [200] * (clients * requests_each)
    assert len({body for _, body, _ in report["answers"]}) == workers
    # A worker held by an idle connection shows as the client's 10 s timeout; a busy machine as
    # no more than a few seconds.
    assert max(seconds for _, _, seconds in report["answers"]) < 5, sorted(
        seconds for _, _, seconds in report["answers"])[-5:]
    # nginx keeps its connections to uWSGI open after the answers, about one a client: not one a
    # request, and not none.
    kept = kept_connections(container)
    assert 1 <= kept <= 2 * clients, kept
    # The health probe takes the same way.
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")


# Each asked of both containers, the third element the body; one with HTTP/1.0, one whose
# path nginx normalizes (REQUEST_URI keeps what the client sent), one whose body is chunked
# (a list: http.client sends it so).
PARITY_REQUESTS = [
    ("GET", "/wsgi?a=1&b=%20x;c=d", None, {"Cookie": "k=v", "X-Custom": "a b", "Accept": "*/*"}),
    ("POST", "/wsgi", b"x=1&y=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("POST", "/wsgi", [b"x=1", b"&y=2"], {"Content-Type": "application/x-www-form-urlencoded"}),
    ("GET", "/x/..//wsgi?q", None, {}),
    ("HTTP/1.0", "/wsgi", None, {}),
]


def environ_of(port, method, path, body, headers):
    """The probe app's /wsgi JSON for a request to 127.0.0.1:port; Host and X-Request-ID fixed,
    so that both containers get the same."""
    headers = dict(headers, **{"Host": "parity.test", "X-Request-ID": "parity"})
    if method == "HTTP/1.0":
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            lines = ["GET %s HTTP/1.0" % path] + ["%s: %s" % pair for pair in headers.items()]
            connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
            received = b""
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
        head, answer = received.split(b"\r\n\r\n", 1)
        assert head.split(b" ")[1] == b"200", head
        return json.loads(answer)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        assert response.status == 200, (response.status, answer)
        return json.loads(answer)
    finally:
        connection.close()


def test_the_app_sees_the_same_request_over_the_kept_connection(image_per_python, start_container, tmp_path):
    app = app_dir(tmp_path)
    over_uwsgi = start_container(image_per_python, *mount(app))
    kept = start_container(image_per_python, *mount(app), *env(NGINX_UWSGI_KEEPALIVE="on"))
    for container in (over_uwsgi, kept):
        container.wait_until_serving()

    for method, path, body, headers in PARITY_REQUESTS:
        expected = environ_of(over_uwsgi.port_of(80), method, path, body, headers)
        seen = environ_of(kept.port_of(80), method, path, body, headers)
        # The client's port is its connection's own; uwsgi.node, each container's host name.
        for variables in (expected, seen):
            assert variables.pop("REMOTE_PORT").isdigit()
            variables.pop("uwsgi.node", None)
        # nginx's uwsgi module also passes Content-Type and Content-Length as HTTP_* variables,
        # which CGI leaves out (RFC 3875, 4.1.18) and uWSGI's HTTP parser too; and a chunked
        # body's Transfer-Encoding, where over HTTP it passes the body whole, with its length;
        # and the client's Connection header (test_tls.py): the differences.
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            assert expected.pop("HTTP_" + name, seen[name]) == seen[name]
        if isinstance(body, list):
            assert (expected.pop("HTTP_TRANSFER_ENCODING"), seen["CONTENT_LENGTH"]) == ("chunked", "7")
        assert seen == expected, (method, path, {key: (expected.get(key), seen.get(key))
                                                 for key in set(expected) | set(seen)
                                                 if expected.get(key) != seen.get(key)})

    # The variables are nginx's alone: a client's Uwsgi-Vars header never reaches uWSGI.
    forged = environ_of(kept.port_of(80), "GET", "/wsgi", None, {
        "Uwsgi-Vars": "REMOTE_ADDR=203.0.113.9\tSCRIPT_NAME=/forged\tHTTPS=on"})
    honest = environ_of(kept.port_of(80), "GET", "/wsgi", None, {})
    assert forged["REMOTE_ADDR"] == honest["REMOTE_ADDR"] != "203.0.113.9"
    assert "HTTPS" not in forged and forged.get("SCRIPT_NAME") == honest.get("SCRIPT_NAME")
    assert "HTTP_UWSGI_VARS" not in forged
    # Nor does a tab in a header's value add one.
    smuggling = "text/plain\tPATH_INFO=/forged\tHTTPS=on"
    smuggled = environ_of(kept.port_of(80), "POST", "/wsgi", b"x=1", {"Content-Type": smuggling})
    assert (smuggled["PATH_INFO"], smuggled["CONTENT_TYPE"], "HTTPS" in smuggled) == ("/wsgi", smuggling, False)


def test_what_kept_connections_need_is_named_at_start(image_per_python, start_container):
    for variables, needed in (({"UWSGI_CHEAPER": "1"}, 'expected UWSGI_CHEAPER 0, not "1"'),
                              ({"UWSGI_SOCKET": ":3031"}, 'expected UWSGI_SOCKET a unix socket, not ":3031"')):
        container = start_container(image_per_python, *env(NGINX_UWSGI_KEEPALIVE="on", **variables))
        assert container.wait_exit(timeout=20) != 0
        logs = container.logs()
        assert entrypoint_lines(logs) == [line for line in logs.splitlines() if line.strip()], logs
        [message] = entrypoint_lines(logs)
        assert message.startswith('%s: NGINX_UWSGI_KEEPALIVE="on": %s: ' % (ENTRYPOINT, needed)), message


def post(port):
    """A POST to /wsgi on a connection of its own: None when answered with a 200, else what failed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/wsgi", body=b"x=1", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return None if response.status == 200 else response.status
    except (OSError, http.client.HTTPException) as error:
        return repr(error)
    finally:
        connection.close()


@pytest.mark.exclusive
def test_no_request_fails_through_a_reload_and_workers_recycled(image_per_python, start_container, tmp_path):
    """A worker that stops (a reload, max-requests) answers what nginx sends on its kept
    connections before it goes: nginx would send a GET again on another connection, not a POST.
    The POSTs' bodies are never read by the app, which ended their connections in uWSGI 2.0."""
    container = start_container(image_per_python, *mount(app_dir(tmp_path)),
                                *env(NGINX_UWSGI_KEEPALIVE="on", UWSGI_PROCESSES=2, UWSGI_MAX_REQUESTS=1000))
    container.wait_until_serving()
    port = container.port_of(80)

    def count(text):
        return container.logs().count(text)
    with wrk.background("http://%s/" % container.ip, 64, 30, headers=["Connection: close"]) as load, \
            Requesters(lambda: post(port), threads=4) as posts:
        wait_for(lambda: count("The work of process") >= 2, 25, message="workers replaced after max-requests")
        docker("kill", "--signal", "HUP", container.name)
        wait_for(lambda: count("gracefully (RE)spawned uWSGI master process") == 1, 25, message="uWSGI reloaded")
        replaced = count("The work of process")
        wait_for(lambda: count("The work of process") >= replaced + 2, 25,
                 message="workers replaced after the reload")
    report = load.report
    print("\n%s: %d GETs under 64 connections, %d failed (non-2xx %d, socket errors %d); %d POSTs, %d failed %s; "
          "workers replaced %d times, 1 reload"
          % (image_per_python, report["requests"], report["non_2xx_3xx"] + report["socket_errors"],
             report["non_2xx_3xx"], report["socket_errors"], posts.answered, len(posts.failed),
             sorted(set(map(str, posts.failed))), count("The work of process")))
    errors = [line for line in container.logs().splitlines() if "[error]" in line]
    print("\n".join(errors[:20]))
    assert report["non_2xx_3xx"] == 0 and report["socket_errors"] == 0, (report, errors)
    assert posts.failed == [], (posts.failed, errors)
    assert report["requests"] > 1000 and posts.answered > 100, (report, posts.answered)
    assert container.running()


def kept_connections(container):
    """uWSGI's connected ends of the kept sockets (/proc/net/unix: state 03, the socket's path)."""
    script = ("import re\n"
              "rows = [line.split() for line in open('/proc/net/unix').read().splitlines()[1:]]\n"
              "print(sum(1 for row in rows if row[5] == '03' and re.search(r'kept-\\d+\\.sock$', row[-1])))\n")
    return int(container.exec("python", "-c", script).stdout)
