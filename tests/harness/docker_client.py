"""The Docker client: the build-capable one tests/env/lib.sh picks, run with BuildKit."""
import os
import subprocess

import pytest

from harness.config import ENV_DIR


def docker_client():
    """The build-capable Docker client (tests/env/lib.sh picks it), or "" where there is none:
    the tests that need no engine (lint, docs) still run."""
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    script = 'source "$1/lib.sh" && docker_client'
    return subprocess.run(["bash", "-c", script, "-", str(ENV_DIR)],
                          capture_output=True, text=True).stdout.strip()


DOCKER = docker_client()


def docker(*args, check=True, timeout=600, env=None, **kwargs):
    """Run the Docker client (env: more environment variables); returns the CompletedProcess
    (text, stdout and stderr captured)."""
    if not DOCKER:
        pytest.fail("no Docker client that can BuildKit-build: run the tests with `make test`")
    environ = dict(os.environ, DOCKER_BUILDKIT="1", **(env or {}))
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True,
                          timeout=timeout, env=environ, **kwargs)
