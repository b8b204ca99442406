"""Runs every Molecule scenario (molecule/<name>/) with `molecule test`: create, prepare,
converge, idempotence, verify and destroy, on the uwsgi-nginx-molecule:bullseye platform (the
host scenario also on :bookworm and :trixie).

The scenarios reach the nginx.org stand-in on 127.0.0.1 through host networking, so nginx in
the scenario container binds MOLECULE_HTTP_PORT on this machine: a free port is picked here."""
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import DOCKER, ENV_DIR, REPO, STANDIN_SUITE

SCENARIOS = ["uwsgi", "nginx", "supervisor", "default"]
# Host mode (systemd on bullseye, bookworm and trixie, ~7 min) is opt-in until it has run
# green in CI: UWSGI_NGINX_HOST_SCENARIO=1 make test
if os.environ.get("UWSGI_NGINX_HOST_SCENARIO") == "1":
    SCENARIOS.append("host")
PLATFORM_IMAGE = "uwsgi-nginx-molecule:bullseye"
VENV_BIN = REPO / ".venv" / "bin"
SCENARIO_TIMEOUT = 20 * 60
TAIL_LINES = 150


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def search_path():
    """PATH with the venv's tools first and the engine's docker client (/usr/bin) ahead of the
    one in /usr/local/bin: the community.docker connection plugin runs the first `docker`."""
    first = [str(VENV_BIN), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    rest = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and entry not in first]
    return os.pathsep.join(first + rest)


@pytest.fixture(scope="module")
def platform_image():
    """The scenarios' platform image, built by the project's script when it is missing."""
    if subprocess.run([DOCKER, "image", "inspect", PLATFORM_IMAGE], capture_output=True).returncode != 0:
        subprocess.run([str(ENV_DIR / "base-images.sh"), "molecule:" + STANDIN_SUITE], check=True,
                       stdout=subprocess.DEVNULL, timeout=1800)
    return PLATFORM_IMAGE


# Scenarios with more platforms than PLATFORM_IMAGE: the Debian suites of their images.
EXTRA_PLATFORM_SUITES = {"host": ["bookworm", "trixie"]}


def ensure_platform_images(scenario):
    """Build, with the project's script, the platform images a scenario needs beyond PLATFORM_IMAGE."""
    missing = ["molecule:" + suite for suite in EXTRA_PLATFORM_SUITES.get(scenario, [])
               if subprocess.run([DOCKER, "image", "inspect", "uwsgi-nginx-molecule:" + suite],
                                 capture_output=True).returncode != 0]
    if missing:
        subprocess.run([str(ENV_DIR / "base-images.sh")] + missing, check=True, stdout=subprocess.DEVNULL,
                       timeout=1800)


@pytest.fixture(scope="module")
def molecule_env(platform_image, nginx_repo):
    env = dict(os.environ)
    env.update({
        "NGINX_REPO_URL": nginx_repo.url,
        "NGINX_SIGNING_KEY_URL": nginx_repo.key_url,
        "NGINX_KEY_FINGERPRINTS": nginx_repo.fingerprint,
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
        "PATH": search_path(),
        "MOLECULE_HTTP_PORT": str(free_port()),
        # Container names: molecule-<scenario>-<this id>, so runs never meet.
        "MOLECULE_RUN_ID": uuid.uuid4().hex[:10],
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    })
    env.pop("VIRTUAL_ENV", None)
    return env


def run_logged(command, env, log_path, timeout):
    """Run command in its own process group, output to log_path; returns (exit code, seconds).
    On timeout the whole group is killed and the exit code is None."""
    start = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    return code, time.monotonic() - start


def tail(path, lines=TAIL_LINES):
    with open(path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, molecule_env, tmp_path):
    molecule = shutil.which("molecule", path=str(VENV_BIN)) or str(VENV_BIN / "molecule")
    log_path = tmp_path / ("molecule-%s.log" % scenario)
    # Molecule's state (inventory, instance config) for this run only: by default it lives in
    # a directory named after the checkout's directory, shared by every run of the scenario.
    env = dict(molecule_env, MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "ephemeral"))
    ensure_platform_images(scenario)
    code, seconds = run_logged([molecule, "test", "--scenario-name", scenario], env, log_path,
                               SCENARIO_TIMEOUT)
    print("molecule test -s %s: exit %s after %.0f s (log: %s)" % (scenario, code, seconds, log_path))
    if code is None:
        # Killed mid-run: nothing destroyed the instance.
        run_logged([molecule, "destroy", "--scenario-name", scenario], env,
                   tmp_path / ("molecule-%s-destroy.log" % scenario), 300)
        pytest.fail("molecule test -s %s timed out after %d s; its output ended with:\n%s"
                    % (scenario, SCENARIO_TIMEOUT, tail(log_path)))
    assert code == 0, "molecule test -s %s exited %d after %.0f s; its output ended with:\n%s" % (
        scenario, code, seconds, tail(log_path))
