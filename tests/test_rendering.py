"""What a start renders, byte for byte: the configuration files the entrypoint writes for a few
typical environments are the ones kept in tests/fixtures/rendered/<case>/. First written by the
image as it was before its entrypoint and settings moved into plain Python (issue 14), which
left them as they were; since, changed on purpose only, each change in git's history. A change
to a template or to the entrypoint that changes what a start writes must change these too:

    make test PYTEST_ARGS=tests/test_rendering.py UPDATE_RENDERED=1   # rewrite the fixtures

Every case runs on one CPU (--cpuset-cpus 0), so that `auto` counts the same on every machine."""
import os
import shutil
from pathlib import Path

import pytest

from harness.waits import wait_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rendered"
PROBE_APP = Path(__file__).resolve().parent / "apps" / "probe"
STATE_DIR = "/run/uwsgi-nginx"
# What a start may write, each file when the command runs its program.
RENDERED = ["nginx.conf", "uwsgi.ini", "healthcheck-url", "nginx-alive-url"]
NON_ROOT_UID = 10001

# case: (docker run arguments, files the app brings[, the command])
CASES = {
    # The image's own hello-world app: no uwsgi.ini, no static directory.
    "empty-environment": ([], None),
    "app-with-uwsgi-ini-and-static": ([], {"uwsgi.ini": "[uwsgi]\n", "static/a.txt": "a"}),
    "non-root": (["--user", str(NON_ROOT_UID), "--tmpfs", "/run:uid=%d" % NON_ROOT_UID], None),
    "every-setting": ([
        "--env", "UWSGI_PROCESSES=3", "--env", "UWSGI_THREADS=4", "--env", "UWSGI_CHEAPER=1",
        "--env", "UWSGI_HARAKIRI=70", "--env", "UWSGI_INI=/app/other.ini",
        "--env", "LISTEN_PORT=8080", "--env", "NGINX_WORKER_PROCESSES=3",
        "--env", "NGINX_WORKER_CONNECTIONS=1024", "--env", "NGINX_WORKER_OPEN_FILES=0",
        "--env", "NGINX_UWSGI_READ_TIMEOUT=30", "--env", "NGINX_MAX_UPLOAD=25m",
        "--env", "STATIC_URL=/assets/", "--env", "STATIC_PATH=/app/public", "--env", "STATIC_INDEX=yes",
        "--env", "UWSGI_MAX_REQUESTS=1000", "--env", "UWSGI_RELOAD_ON_RSS=512",
        "--env", "NGINX_UWSGI_MAX_TEMP_FILE_SIZE=0", "--env", "STATIC_FOLLOW_SYMLINKS=1", "--env", "STATIC_DOTFILES=on",
        "--env", "NGINX_GZIP=off", "--env", "NGINX_REAL_IP_FROM=10.0.0.0/8,192.168.1.10",
        "--env", "NGINX_ACCESS_LOG=json",
    ], {"other.ini": "[uwsgi]\n", "public/index.html": "index"}),
    "auto-counts-two-cpus": (["--cpuset-cpus", "0-1", "--env", "UWSGI_CHEAPER=3"], None),
    # nginx's kept connections: a socket of each uWSGI worker's own (two on one CPU).
    "kept-connections": (["--env", "NGINX_UWSGI_KEEPALIVE=on"], None),
    "uwsgi-over-tcp": (["--env", "UWSGI_SOCKET=127.0.0.1:3031", "--env", "UWSGI_WEBSOCKET_SOCKET=127.0.0.1:3032"],
                       None),
    # The split: each program alone, uWSGI found by name (through a resolver of documentation's
    # addresses, never asked here).
    "nginx-alone": (["--dns", "192.0.2.53", "--env", "NGINX_UWSGI_SOCKET=uwsgi:3031",
                     "--env", "NGINX_UWSGI_WEBSOCKET_SOCKET=uwsgi:3032"], None, ["run-nginx"]),
    "uwsgi-alone": (["--env", "UWSGI_SOCKET=:3031", "--env", "UWSGI_WEBSOCKET_SOCKET=:3032"], None, ["run-uwsgi"]),
}


def app_with(tmp_path, files):
    directory = tmp_path / "app"
    shutil.copytree(str(PROBE_APP), str(directory))
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in [directory] + [p for p in directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return ["--volume", "%s:/app:ro" % directory]


@pytest.mark.parametrize("case", list(CASES))
def test_a_start_renders_what_it_rendered_before(image, start_container, tmp_path, case):
    run_args, files, command = (CASES[case] + ([],))[:3]
    if "--cpuset-cpus" not in run_args:
        run_args = ["--cpuset-cpus", "0"] + run_args
    if "0-1" in run_args and os.cpu_count() < 2:
        pytest.skip("needs two CPUs")
    app = app_with(tmp_path, files) if files is not None else []
    container = start_container(image, *app, *run_args, command=command)

    def written():
        if not container.running():
            raise AssertionError("container exited:\n" + container.logs())
        return container.exec("test", "-e", STATE_DIR + "/healthcheck-url", check=False).returncode == 0
    wait_for(written, 30, message="the start to write its configuration")
    written = container.exec("ls", STATE_DIR).stdout.split()
    rendered = {name: container.exec("cat", "%s/%s" % (STATE_DIR, name)).stdout for name in RENDERED if name in written}
    if os.environ.get("UPDATE_RENDERED"):
        shutil.rmtree(str(FIXTURES / case), ignore_errors=True)
        for name, text in rendered.items():
            (FIXTURES / case).mkdir(parents=True, exist_ok=True)
            (FIXTURES / case / name).write_text(text)
    assert sorted(rendered) == sorted(path.name for path in (FIXTURES / case).iterdir())
    for name, text in rendered.items():
        assert text == (FIXTURES / case / name).read_text(), "%s/%s differs from %s" % (case, name, FIXTURES / case)
