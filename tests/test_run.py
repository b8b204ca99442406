"""`make test` (tests/run.sh) stops what it started, and only that: a container and an engine
that were running before it (`make run`'s) keep running. Tried with a short run of the suite
inside this one."""
import subprocess
import uuid

from harness.config import ENV_DIR, REPO
from harness.docker_client import docker, DOCKER
from harness.images import base_image


def test_an_engine_that_already_answers_is_not_the_callers_to_stop():
    # "CLIENT PID" when this call started dockerd, "CLIENT" when one answered already.
    result = subprocess.run([str(ENV_DIR / "docker-engine.sh"), "start"], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.splitlines()[-1] == DOCKER, result.stdout


def test_a_run_leaves_a_container_it_did_not_start_running(run):
    """The container is this run's (its label), not the inner run's, as `make run`'s is neither."""
    name = "uwsgi-nginx-not-the-runs-%s" % uuid.uuid4().hex[:10]
    docker("run", "--detach", "--name", name, "--label", run.label, base_image(run, "debian:bullseye"),
           "sleep", "infinity")
    try:
        inner = subprocess.run([str(REPO / "tests" / "run.sh"), "-n", "0", "-p", "no:cacheprovider",
                                "tests/test_lint.py::test_yamllint_is_clean"],
                               cwd=str(REPO), capture_output=True, text=True, timeout=600)
        assert inner.returncode == 0, inner.stdout[-3000:] + inner.stderr[-3000:]
        assert "1 passed" in inner.stdout, inner.stdout[-3000:]
        assert docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"
        assert docker("info", check=False).returncode == 0
    finally:
        docker("rm", "--force", name, check=False)
