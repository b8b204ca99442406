"""Runs the Molecule scenarios (molecule/<name>/) with `molecule test`: create, prepare,
converge, idempotence, side effect (where a scenario has one), verify and destroy.

- The role scenarios (uwsgi, nginx, supervisor, default) run in container mode on one platform,
  uwsgi-nginx-molecule:<suite>, once for each suite in UWSGI_NGINX_MOLECULE_SUITES
  (comma-separated; default bullseye, what `make test` runs; `make test-matrix` runs all three).
- host (systemd as PID 1, the playbook in host mode) runs on bullseye, bookworm and trixie at
  once, in every run.

The scenarios reach the nginx.org stand-in (one repository for the three suites) on 127.0.0.1
through host networking, so nginx in the scenario containers binds MOLECULE_HTTP_PORT (and the
next ports, for host) on this machine: free ports are picked here."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from harness.config import MOLECULE_SUITES, REPO
from harness.images import base_image

ROLE_SCENARIOS = ["uwsgi", "nginx", "supervisor", "default"]
VENV_BIN = REPO / ".venv" / "bin"
# A bound for a hung run, not the expected time: host runs the playbook seven times on three platforms.
SCENARIO_TIMEOUT = {"host": 40 * 60}
DEFAULT_SCENARIO_TIMEOUT = 20 * 60
TAIL_LINES = 150


def selected_suites():
    """The suites UWSGI_NGINX_MOLECULE_SUITES names (default bullseye), checked."""
    suites = [suite.strip() for suite in os.environ.get("UWSGI_NGINX_MOLECULE_SUITES", "bullseye").split(",")
              if suite.strip()]
    unknown = sorted(set(suites) - set(MOLECULE_SUITES))
    if unknown or not suites:
        raise pytest.UsageError("UWSGI_NGINX_MOLECULE_SUITES: %s is not a comma-separated list of %s"
                                % (os.environ.get("UWSGI_NGINX_MOLECULE_SUITES"), ", ".join(MOLECULE_SUITES)))
    return suites


# (scenario, suites of its platforms): the role scenarios once per selected suite, host once.
# Minutes each takes on two cores shared with the other tests, roughly (tests/conftest.py
# starts the longest first).
MINUTES = {"host": 15, "default": 5}
CASES = [pytest.param(scenario, [suite], id="%s-%s" % (scenario, suite),
                      marks=pytest.mark.slow(MINUTES.get(scenario, 2)))
         for scenario in ROLE_SCENARIOS for suite in selected_suites()]
CASES.append(pytest.param("host", MOLECULE_SUITES, id="host", marks=pytest.mark.slow(MINUTES["host"])))


def free_ports(run, count):
    """The first of count consecutive TCP ports on 127.0.0.1 that nothing listens on and that no
    other scenario of this run was given. Below the kernel's ephemeral range (32768 on), where
    only listeners take ports."""
    with run.locked("molecule-ports"):
        given_path = run.directory / "molecule-ports.json"
        given = set(json.loads(given_path.read_text())) if given_path.exists() else set()
        for first in range(20000, 32768 - count, count):
            ports = set(range(first, first + count))
            if not ports & given and all(can_listen(port) for port in ports):
                given_path.write_text(json.dumps(sorted(given | ports)))
                return first
    raise AssertionError("no %d free consecutive ports below 32768" % count)


def can_listen(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def search_path():
    """PATH with the venv's tools first and the engine's docker client (/usr/bin) ahead of the
    one in /usr/local/bin: the community.docker connection plugin runs the first `docker`."""
    first = [str(VENV_BIN), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    rest = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and entry not in first]
    return os.pathsep.join(first + rest)


@pytest.fixture(scope="module")
def molecule_env(nginx_repo):
    env = dict(os.environ)
    env.update({
        "NGINX_REPO_URL": nginx_repo.url,
        "NGINX_SIGNING_KEY_URL": nginx_repo.key_url,
        "NGINX_KEY_FINGERPRINTS": nginx_repo.fingerprint,
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
        "PATH": search_path(),
        # Container names: molecule-<scenario>-<suite>-<this id>, so runs never meet.
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


@pytest.mark.parametrize("scenario, suites", CASES)
def test_molecule_scenario(scenario, suites, molecule_env, run, tmp_path):
    molecule = shutil.which("molecule", path=str(VENV_BIN)) or str(VENV_BIN / "molecule")
    log_path = tmp_path / ("molecule-%s.log" % scenario)
    # Molecule's state (inventory, instance config) for this run only: by default it lives in
    # a directory named after the checkout's directory, shared by every run of the scenario.
    env = dict(molecule_env, MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "ephemeral"),
               MOLECULE_HTTP_PORT=str(free_ports(run, len(suites))))
    if scenario in ROLE_SCENARIOS:
        # The suite of the role scenarios' one platform (their molecule.yml reads it).
        env["MOLECULE_SUITE"] = suites[0]
    else:
        env.pop("MOLECULE_SUITE", None)
    for suite in suites:
        base_image(run, "molecule:" + suite)
    timeout = SCENARIO_TIMEOUT.get(scenario, DEFAULT_SCENARIO_TIMEOUT)
    code, seconds = run_logged([molecule, "test", "--scenario-name", scenario], env, log_path, timeout)
    print("molecule test -s %s: exit %s after %.0f s (log: %s)" % (scenario, code, seconds, log_path))
    if code is None:
        # Killed mid-run: nothing destroyed the instance.
        run_logged([molecule, "destroy", "--scenario-name", scenario], env,
                   tmp_path / ("molecule-%s-destroy.log" % scenario), 300)
        pytest.fail("molecule test -s %s timed out after %d s; its output ended with:\n%s"
                    % (scenario, timeout, tail(log_path)))
    assert code == 0, "molecule test -s %s exited %d after %.0f s; its output ended with:\n%s" % (
        scenario, code, seconds, tail(log_path))
