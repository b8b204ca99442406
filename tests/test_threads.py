"""A threaded app under load, through everything that forks or kills uWSGI's workers, and the
fatal errors uWSGI's tracker reports on Python 3.12 and later (unbit/uwsgi #2710, #2748,
#2692, #2617) and harakiri in a threaded worker (#2706): docs/operating.md, "Threads, forks and
uWSGI's known crashes".

The app (tests/apps/threaded) starts a thread at import that keeps taking a lock, and uses a
thread pool and that lock in every request. Each run prints its counts. `make test` runs these
on the default Python and on 3.14, where the fatal errors are; `make test-matrix` on every
supported Python."""
import json
import re
import shutil
import threading
import time

import pytest

import wrk
from harness.config import PYTHON_314, REPO
from harness.docker_client import docker
from harness.images import python_image_build
from harness.waits import http_get, wait_for
from test_runtime import env, mount

THREADED_APP = REPO / "tests" / "apps" / "threaded"

THREADS = 4
# Two workers answer about 2,000 requests a second here: each is replaced every few seconds,
# and 4 times in the load's time on a machine four times slower.
MAX_REQUESTS = 3000
HARAKIRI_SECONDS = 3
LOAD_CONNECTIONS = 200
LOAD_SECONDS = 45
TRACEBACKER = "/run/uwsgi/tracebacker"

# Options users set that uWSGI's tracker reports crashes with, as a user sets them.
OPTIONS = {
    "defaults": {},
    "py-call-osafterfork": {"UWSGI_PY_CALL_OSAFTERFORK": "true"},
    "py-tracebacker": {"UWSGI_PY_TRACEBACKER": TRACEBACKER},
    # #2748's: each worker imports the app itself, after the fork.
    "lazy-apps": {"UWSGI_LAZY_APPS": "true"},
}


def app_copy(tmp_path, source):
    """The app, readable by the container's uwsgi user whatever the checkout's modes."""
    directory = tmp_path / source.name
    shutil.copytree(str(source), str(directory))
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    return directory


def threaded_container(start_container, image, tmp_path, **variables):
    settings = dict(UWSGI_THREADS=THREADS, UWSGI_PROCESSES=2, UWSGI_MAX_REQUESTS=MAX_REQUESTS,
                    UWSGI_MIN_WORKER_LIFETIME=1, UWSGI_HARAKIRI=HARAKIRI_SECONDS)
    settings.update(variables)
    container = start_container(image, *mount(app_copy(tmp_path, THREADED_APP)), *env(**settings))
    container.wait_until_serving(timeout=60)
    return container


def answer(container):
    status, _, body = container.get()
    assert status == 200, body
    return json.loads(body)


def log_counts(logs):
    killed = re.findall(r"worker \d+ \(pid: (\d+)\) (?:died, |MISTERIOUSLY )killed by signal (\d+)", logs)
    return {
        "fatal_python_errors": logs.count("Fatal Python error"),
        "segmentation_faults": logs.count("Segmentation Fault"),
        "killed_by_signal": killed,
        "harakiri_kills": sorted(set(re.findall(r"HARAKIRI ON WORKER \d+ \(pid: (\d+)", logs))),
        "recycled": logs.count("The work of process"),
        "reloads": logs.count("gracefully (RE)spawned uWSGI master process"),
        "osafterfork_ignored": logs.count("py-call-osafterfork is ignored"),
    }


def traceback_of(container, worker):
    """What the worker's tracebacker answers (uWSGI's client writes it to stderr); None while it
    has no socket (a new worker)."""
    result = container.exec("uwsgi", "--connect-and-read", "%s%d" % (TRACEBACKER, worker), check=False)
    return result.stderr if result.returncode == 0 and "tracebacker output" in result.stderr else None


def wait_for_log(container, text, timeout, count=1):
    wait_for(lambda: container.logs().count(text) >= count, timeout, message="%r in the logs" % text)


@pytest.mark.exclusive
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_a_threaded_app_under_load_through_reload_recycling_harakiri_and_stop(
        image_per_python, start_container, tmp_path, option):
    container = threaded_container(start_container, image_per_python, tmp_path, **OPTIONS[option])
    before = answer(container)
    stuck = {}
    tracebacks = []
    with wrk.background("http://%s/" % container.ip, LOAD_CONNECTIONS, LOAD_SECONDS,
                        headers=["Connection: close"]) as load:
        if option == "py-tracebacker":
            # Asked under load (#2617: a crash in sys._current_frames()), each worker until it
            # answers (one being replaced has no socket for a moment).
            for worker in (1, 2):
                tracebacks.append(wait_for(lambda: traceback_of(container, worker), 10,
                                           message="worker %d's tracebacker" % worker))
        docker("kill", "--signal", "HUP", container.name)
        wait_for_log(container, "...gracefully killing workers...", 15)
        stuck_thread = threading.Thread(target=lambda: stuck.update(
            response=http_get(container.url + "/sleep?s=30", timeout=30)))
        stuck_thread.start()
        wait_for_log(container, "HARAKIRI ON WORKER", 15)
        stuck_thread.join()
        # Workers replaced by UWSGI_MAX_REQUESTS while the load goes on, until it ends: on a
        # busy machine fewer requests a second come, and the replacements later.
        wait_for(lambda: container.logs().count("The work of process") >= 4 or not load.running,
                 LOAD_SECONDS + 60, message="4 workers replaced, or the load's end")
    report = load.report
    after = answer(container)
    stopped = time.monotonic()
    docker("stop", "--time", "20", container.name, timeout=60)
    stop_seconds = time.monotonic() - stopped
    exit_code = container.inspect()["State"]["ExitCode"]
    counts = log_counts(container.logs())
    print("\n%s, %s: %d requests under %d connections, %d failed (non-2xx %d, socket errors %d: %s); "
          "workers replaced %d times (max-requests), %d reload(s), harakiri %s, killed by a signal %s, "
          "Fatal Python errors %d, segfaults %d; stopped in %.1f s, exit %d"
          % (image_per_python, option, report["requests"], LOAD_CONNECTIONS,
             report["non_2xx_3xx"] + report["socket_errors"], report["non_2xx_3xx"], report["socket_errors"],
             ", ".join("%s %d" % (kind, report[kind]) for kind in ("connect", "read", "write", "timeout")),
             counts["recycled"], counts["reloads"], counts["harakiri_kills"], counts["killed_by_signal"],
             counts["fatal_python_errors"], counts["segmentation_faults"], stop_seconds, exit_code))
    assert counts["fatal_python_errors"] == 0 and counts["segmentation_faults"] == 0
    # The one worker harakiri killed, and no other worker by any signal.
    assert len(counts["harakiri_kills"]) == 1
    assert [pid for pid, _ in counts["killed_by_signal"] if pid not in counts["harakiri_kills"]] == []
    # nginx's answer when the worker is killed before its read timeout (docs/operating.md).
    assert stuck["response"] and stuck["response"][0] == 500, stuck
    # harakiri kills its worker, and with it what the worker's other threads were answering.
    assert report["socket_errors"] == 0 and report["non_2xx_3xx"] <= THREADS - 1, report
    assert report["requests"] > 5000, report
    assert counts["recycled"] >= 4 and counts["reloads"] == 1
    assert exit_code == 0
    # Each worker started the app's thread again and made its lock anew: it ran the app's
    # at-fork hook (with lazy-apps none runs: the worker imports the app after the fork), and
    # its thread runs.
    for state in (before, after):
        assert state["forks_seen"] == (0 if option == "lazy-apps" else 1), state
        assert state["ticker_alive"] and state["answer"] == 42, state
    if option == "py-tracebacker":
        for output in tracebacks:
            assert "*** uWSGI Python tracebacker output ***" in output and "thread_id = ticker" in output, output


def test_workers_that_die_at_every_start_stop_the_container(image, start_container, tmp_path):
    """need-app, as for an app that cannot be loaded: the container exits, non-zero, with the
    workers' own error in its log (roles/uwsgi/files/patches/need-app-workers-that-cannot-start.patch)."""
    container = start_container(image, *mount(app_copy(tmp_path, REPO / "tests" / "apps" / "crash-at-fork")),
                                *env(UWSGI_PROCESSES=2))
    started = time.monotonic()
    exit_code = container.wait_exit(timeout=60)
    logs = container.logs()
    deaths = [signal for _, signal in log_counts(logs)["killed_by_signal"]]
    print("\n%s: exit %d after %.1f s, %d worker deaths" % (image, exit_code, time.monotonic() - started, len(deaths)))
    assert exit_code != 0
    assert set(deaths) == {"6"} and len(deaths) >= 3, logs
    assert "no worker could start: each died before accepting a request" in logs
    assert re.search("program failed \\(uwsgi (EXITED|FATAL)\\)", logs), logs


def test_py_call_osafterfork_without_the_fork_hooks_on_python_3_14(run, build_ca, nginx_repo, start_container,
                                                                   tmp_path):
    """unbit/uwsgi #2710 as reported: py-call-osafterfork alone (an app's ini turning the
    image's py-call-uwsgi-fork-hooks off). Every worker died at fork ("Fatal Python error:
    PyMutex_Unlock"); patched (PR #2736's fix), the option is ignored, and says so."""
    image = python_image_build(run, build_ca, nginx_repo, PYTHON_314)[0]
    app = app_copy(tmp_path, REPO / "app")
    (app / "uwsgi.ini").write_text("[uwsgi]\npy-call-uwsgi-fork-hooks = false\npy-call-osafterfork = true\n")
    (app / "uwsgi.ini").chmod(0o644)
    container = start_container(image, *mount(app), *env(UWSGI_PROCESSES=2))
    container.wait_until_serving(timeout=60)
    for _ in range(20):
        status, _, body = container.get()
        assert status == 200 and "Hello World" in body, body
    counts = log_counts(container.logs())
    assert counts["fatal_python_errors"] == 0 and counts["killed_by_signal"] == []
    assert counts["osafterfork_ignored"] >= 1


@pytest.mark.no_engine
@pytest.mark.parametrize("patch", sorted((REPO / "roles" / "uwsgi" / "files" / "patches").glob("*.patch")),
                         ids=lambda path: path.name)
def test_each_uwsgi_patch_says_what_it_fixes_and_is_applied_and_tested(patch):
    """Each patch of the uWSGI build: a header (Description, Origin, Test naming a test here
    that exists), a diff, and a place in the role's uwsgi_patches."""
    import yaml
    header, _, diff = patch.read_text().partition("\ndiff --git ")
    fields = dict(line.split(": ", 1) for line in header.splitlines() if re.match(r"[A-Z][a-z]+: ", line))
    assert {"Description", "Origin", "Test"} <= set(fields), fields
    test_file, _, test_name = fields["Test"].partition("::")
    assert (REPO / test_file).is_file() and "def %s(" % test_name in (REPO / test_file).read_text()
    assert diff.startswith("a/") and "\n@@ " in diff
    defaults = yaml.safe_load((REPO / "roles" / "uwsgi" / "defaults" / "main.yml").read_text())
    assert patch.name in defaults["uwsgi_patches"]
