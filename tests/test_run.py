"""`make test` (tests/run.sh) stops what it started, and only that: a container and an engine
that were running before it (`make run`'s) keep running. Tried with a short run of the suite
inside this one. `make run` (tests/env/build-and-run.sh) tags the image after its base's Python."""
import subprocess
import uuid

from harness.config import ENV_DIR, PYTHON27_STAGE, PYTHON_314, REPO
from harness.docker_client import docker, DOCKER
from harness.images import base_image, lib_sh


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


def test_make_run_tags_the_image_after_the_python_of_its_base(run, python27_base):
    """run_image_tag, which `make run` tags the image with unless IMAGE says otherwise, on each
    kind of base: the python2.7 stage, the 2.7 base `make python2.7-base` builds, an official
    image's stand-in, and that image under another name (the tag follows its interpreter)."""
    base_image(run, PYTHON_314)
    lookalike = "uwsgi-nginx-test-python:2.7-lookalike-%s" % run.id
    docker("tag", PYTHON_314, lookalike)
    try:
        tags = {base: lib_sh("run_image_tag", base) for base in (PYTHON27_STAGE, python27_base, PYTHON_314, lookalike)}
    finally:
        docker("image", "rm", lookalike)
    assert tags == {PYTHON27_STAGE: "uwsgi-nginx:python2.7", python27_base: "uwsgi-nginx:python2.7",
                    PYTHON_314: "uwsgi-nginx:python3.14", lookalike: "uwsgi-nginx:python3.14"}
