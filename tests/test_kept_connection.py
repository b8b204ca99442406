"""uWSGI's kept HTTP/1.1 connections, as the image's uWSGI serves them
(roles/uwsgi/files/patches/http11-kept-connections-wait-in-the-queue.patch): a worker answers
new connections while one it answered stays open, and nginx's keep-alive pool in front of a
socket of each worker's own (the bench's pass=kept) answers clients at once without a stall.
uWSGI's socket-timeout is longer than the clients wait here: a worker held by an idle connection
shows as a client's timeout, not as a slow answer. On the default Python, and on 3.14 when that
is 2.7."""
import json
import sys

from harness.config import REPO
from test_runtime import app_dir, env, mount

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
    ini = app_ini(tmp_path, bench.kept_uwsgi_options(workers))
    conf = tmp_path / "kept.conf"
    conf.write_text(bench.kept_nginx_conf(workers))
    conf.chmod(0o644)
    container = start_container(image_per_python, *mount(app_dir(tmp_path)), "--volume", "%s:/kept.ini:ro" % ini,
                                "--volume", "%s:/etc/nginx/conf.d/kept.conf:ro" % conf,
                                "--volume", "/run/bench", *env(UWSGI_PROCESSES=workers, UWSGI_INI="/kept.ini"))
    container.wait_until_serving()
    logs = container.logs()
    for line in bench.kept_socket_log_lines(workers):
        assert line in logs, logs

    report = run_client(container, "many-clients", "127.0.0.1:%d" % bench.PEER_PORT, str(clients),
                        str(requests_each))

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


def kept_connections(container):
    """uWSGI's connected ends of the kept sockets (/proc/net/unix: state 03, the socket's path)."""
    script = ("import re\n"
              "rows = [line.split() for line in open('/proc/net/unix').read().splitlines()[1:]]\n"
              "print(sum(1 for row in rows if row[5] == '03' and re.search(r'kept-\\d+\\.sock$', row[-1])))\n")
    return int(container.exec("python", "-c", script).stdout)
