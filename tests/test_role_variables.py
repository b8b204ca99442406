"""Bad role variables stop playbook.yml before it changes anything, with a message naming the
variable. The target is a fresh Molecule platform container; `docker diff` before and after
the run proves it was left as it was."""
import json
import os
import signal
import subprocess
import threading
import uuid

import pytest

from harness.config import REPO
from harness.docker_client import docker, DOCKER
from harness.images import base_image

BAD_INPUTS = {
    "processes not a number": ({"uwsgi_processes": "many"}, "uwsgi_processes"),
    "unknown nginx channel": ({"nginx_channel": "nightly"}, "nginx_channel"),
    "malformed fingerprint": ({"nginx_key_fingerprints": ["not-a-fingerprint"]}, "nginx_key_fingerprints"),
    "negative port": ({"nginx_listen_port": -1}, "nginx_listen_port"),
    "unknown nginx source": ({"nginx_source": "ppa"}, "nginx_source"),
    "backlog above what the kernel allows": ({"uwsgi_listen": 100000}, "uwsgi_listen"),
    "negative harakiri": ({"uwsgi_harakiri": -1}, "uwsgi_harakiri"),
    "cheaper not below the processes per CPU": ({"uwsgi_cheaper": 1024}, "uwsgi_cheaper"),
    "read timeout of 0": ({"nginx_uwsgi_read_timeout": 0}, "nginx_uwsgi_read_timeout"),
    "socket neither a path nor host and port": ({"uwsgi_socket": "uwsgi.sock"}, "uwsgi_socket"),
    "connect timeout above nginx's limit": ({"nginx_uwsgi_connect_timeout": 600}, "nginx_uwsgi_connect_timeout"),
    "program without a command": ({"supervisor_programs": [{"name": "web"}]}, "supervisor_programs"),
    "unknown provision target": ({"provision_target": "vm"}, "provision_target"),
}


@pytest.fixture
def target(run):
    """A platform container with nothing provisioned; Ansible's temporary files go to a tmpfs,
    which `docker diff` does not see."""
    base_image(run, "molecule:bullseye")
    name = "uwsgi-nginx-vars-%s" % uuid.uuid4().hex[:10]
    docker("run", "--detach", "--name", name, "--label", run.label, "--network", "none", "--tmpfs", "/tmp",
           "uwsgi-nginx-molecule:bullseye", "sleep", "infinity")
    yield name
    docker("rm", "--force", name, check=False)


def run_playbook(container, extra_vars, stop_at=None):
    """ansible-playbook playbook.yml on the container: (exit code, output). With stop_at, ended as
    soon as a line of its output starts with it (exit code None): what follows is not the test's."""
    # The docker connection runs the first `docker` on PATH: the engine's own client.
    env = dict(os.environ, ANSIBLE_REMOTE_TEMP="/tmp/.ansible", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PATH=os.path.dirname(DOCKER) + os.pathsep + os.environ["PATH"])
    process = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbook.yml"),
         "--inventory", container + ",", "--connection", "community.docker.docker",
         "--extra-vars", "ansible_python_interpreter=/usr/bin/python3",
         "--extra-vars", json.dumps(extra_vars)],
        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    watchdog = threading.Timer(300, os.killpg, (process.pid, signal.SIGKILL))
    watchdog.start()
    output, stopped = [], False
    try:
        for line in process.stdout:
            output.append(line)
            if stop_at and line.startswith(stop_at):
                os.killpg(process.pid, signal.SIGKILL)
                stopped = True
                break
        code = process.wait()
    finally:
        timed_out = not watchdog.is_alive() and not stopped
        watchdog.cancel()
        process.stdout.close()
    assert not timed_out, "ansible-playbook still running after 300 s:\n" + "".join(output)[-3000:]
    return (None if stopped else code), "".join(output)


@pytest.mark.parametrize("extra_vars, variable", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_variable_fails_early_and_changes_nothing(target, extra_vars, variable):
    before = docker("diff", target).stdout
    code, output = run_playbook(target, extra_vars)
    assert code not in (0, None), output[-3000:]
    assert variable in output, output[-3000:]
    assert "changed=0" in output, output[-3000:]
    assert docker("diff", target).stdout == before


def test_default_variables_pass_the_check(target):
    """The check itself lets good variables through: with the defaults, the playbook goes on to
    provision (stopped there: the container has no network, and that is not the point)."""
    provision = "PLAY [Provision nginx, uWSGI and supervisord]"
    _, output = run_playbook(target, {}, stop_at=provision)
    check_play, _, provision_play = output.partition(provision)
    assert provision_play, output[-3000:]
    assert "fatal:" not in check_play, check_play[-3000:]
