"""The image under load and faults: thousands of connections, processes killed mid-load, memory
over many requests. wrk (Debian's package) loads each container on its address on Docker's
bridge, with no userland proxy in between; every run is bounded in time."""
import re
import time

import pytest

import wrk
from harness.waits import wait_for
from test_runtime import app_dir, mount, process_table, uwsgi_workers

# Each measures what the image does under load: no build or other test may share the CPUs.
pytestmark = pytest.mark.exclusive


def url_of(container):
    return "http://%s/" % container.ip


def voluntary_switches(container, pid):
    """How often a process has given up the CPU: it grows while a worker serves requests."""
    status = container.exec("cat", "/proc/%d/status" % pid).stdout
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("voluntary_ctxt_switches:")))


def kill(container, pid):
    """SIGKILL from inside the container, with sh's kill (the image has no kill binary)."""
    container.exec("sh", "-c", "kill -9 %d" % pid)


def master_pid(container, program):
    """The pid of the nginx or uWSGI master: the program's process that supervisord started."""
    table = process_table(container)
    supervisord = next(pid for pid, _, cmd in table if "supervisord" in cmd and "--nodaemon" in cmd)
    return next(pid for pid, ppid, cmd in table if ppid == supervisord and cmd.startswith(program))


def test_two_thousand_connections_for_twenty_seconds_without_an_error(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    report = wrk.run(url_of(container), connections=2000, seconds=20)
    assert report["requests"] > 2000, report
    assert report["socket_errors"] == 0 and report["non_2xx_3xx"] == 0, report
    assert "worker_connections are not enough" not in container.logs()


def test_two_thousand_requests_waiting_at_once_on_one_nginx_worker(image, start_container, tmp_path):
    """Every client's request in flight at once, all on one nginx worker: each holds two of its
    connections (the client's, uWSGI's). Short of them, nginx closes kept-alive clients'
    connections to make room, and each such client's next request fails (wrk's read errors:
    108,000 in 5 s at 2,000 connections with 4,096 worker connections)."""
    container = start_container(image, *mount(app_dir(tmp_path, {})), "--env", "NGINX_WORKER_PROCESSES=1",
                                "--env", "UWSGI_PROCESSES=4")
    container.wait_until_serving()
    report = wrk.run(url_of(container) + "slow?seconds=0.005", connections=2000, seconds=6, timeout=10)
    assert report["requests"] > 2000, report
    assert report["socket_errors"] == 0 and report["non_2xx_3xx"] == 0, report
    assert "worker_connections are not enough" not in container.logs()


def test_a_killed_uwsgi_worker_is_replaced_and_only_its_request_fails(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    master = master_pid(container, "uwsgi")
    workers = uwsgi_workers(container)
    victim = workers[0]
    switches = voluntary_switches(container, victim)
    with wrk.background(url_of(container), connections=50, seconds=10) as load:
        wait_for(lambda: voluntary_switches(container, victim) > switches + 100, 10,
                 message="worker %d to serve the load" % victim)
        kill(container, victim)

        def replaced():
            now = uwsgi_workers(container)
            return now if victim not in now and len(now) == len(workers) else None
        workers_after = wait_for(replaced, 10, message="uWSGI to replace worker %d" % victim)
    report = load.report
    # One thread per worker: at most the one request the worker was answering fails (nginx: 502).
    assert report["socket_errors"] == 0 and report["non_2xx_3xx"] <= 1, report
    assert report["requests"] > 1000, report
    assert master_pid(container, "uwsgi") == master
    assert len(set(workers_after) - set(workers)) == 1
    assert container.get()[0] == 200


@pytest.mark.parametrize("program", ["uwsgi", "nginx"])
def test_a_killed_master_stops_the_container_at_once(image, start_container, program):
    """Not restarted in place (README: "Under load, and when a process dies"): the killed
    master's workers outlive it and hold its sockets; the container exits, non-zero, for its
    orchestrator to restart."""
    container = start_container(image)
    container.wait_until_serving()
    killed = time.monotonic()
    kill(container, master_pid(container, program))
    assert container.wait_exit(timeout=10) == 1
    seconds = time.monotonic() - killed
    # FATAL when it dies within supervisord's startsecs (1 s) of starting, EXITED after.
    assert re.search("stopped because %s (EXITED|FATAL)" % program, container.logs())
    # The other program still stops gracefully: uWSGI's master sees its idle workers out in a
    # second or two (seconds more on a loaded machine).
    assert seconds < 8, "the container took %.1f s to exit" % seconds


def test_an_orchestrator_restart_serves_again(image, start_container):
    """What `--restart on-failure` (Docker), Swarm and Kubernetes do with that exit."""
    container = start_container(image, "--restart", "on-failure:3")
    container.wait_until_serving()
    killed = time.monotonic()
    kill(container, master_pid(container, "nginx"))
    wait_for(lambda: container.inspect()["RestartCount"] >= 1, 10, message="docker to restart the container")
    container.wait_until_serving(timeout=10)
    seconds = time.monotonic() - killed
    assert container.inspect()["RestartCount"] == 1
    assert seconds < 10, "serving again took %.1f s" % seconds


def test_a_hundred_thousand_requests_do_not_grow_memory(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    idle = container.rss_kib()
    answered = 0
    for _ in range(60):
        report = wrk.run(url_of(container), connections=50, seconds=5)
        assert report["socket_errors"] == 0 and report["non_2xx_3xx"] == 0, report
        answered += report["requests"]
        if answered >= 100000:
            break
    assert answered >= 100000, "only %d requests in 5 minutes" % answered
    after = container.rss_kib()
    growth = (after - idle) / idle
    assert growth <= 0.10, "RSS %d KiB idle, %d KiB after %d requests (+%.1f %%)" % (
        idle, after, answered, 100 * growth)
