"""Bad role variables stop playbook.yml before it changes anything, with a message naming the
variable. The target is a fresh Molecule platform container; `docker diff` before and after
the run proves it was left as it was."""
import json
import os
import subprocess
import uuid

import pytest

from conftest import DOCKER, REPO, base_image, docker

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


def run_playbook(container, extra_vars):
    # The docker connection runs the first `docker` on PATH: the engine's own client.
    env = dict(os.environ, ANSIBLE_REMOTE_TEMP="/tmp/.ansible", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PATH=os.path.dirname(DOCKER) + os.pathsep + os.environ["PATH"])
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbook.yml"),
         "--inventory", container + ",", "--connection", "community.docker.docker",
         "--extra-vars", "ansible_python_interpreter=/usr/bin/python3",
         "--extra-vars", json.dumps(extra_vars)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("extra_vars, variable", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_variable_fails_early_and_changes_nothing(target, extra_vars, variable):
    before = docker("diff", target).stdout
    result = run_playbook(target, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert variable in output, output[-3000:]
    assert "changed=0" in output, output[-3000:]
    assert docker("diff", target).stdout == before


def test_default_variables_pass_the_check(target):
    """The check itself lets good variables through: with the defaults, the playbook goes on to
    provision (which then fails here: the container has no network, and that is not the point)."""
    result = run_playbook(target, {})
    output = result.stdout + result.stderr
    check_play, _, provision_play = output.partition("PLAY [Provision nginx, uWSGI and supervisord]")
    assert provision_play, output[-3000:]
    assert "fatal:" not in check_play, check_play[-3000:]
