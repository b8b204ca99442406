"""The test run that pytest-xdist's workers share, through a directory: what is made once, and
the machine, shared or taken alone (conftest.py's hooks and the `run` fixture use it)."""
import contextlib
import fcntl
import json
import re
from pathlib import Path

import pytest

import loopback
from harness.config import RUN_LABEL
from harness.docker_client import DOCKER, docker


class Run:
    """One run of the suite, shared by every pytest-xdist worker through a directory: what is
    made once (images, stand-ins), and the machine, which exclusive tests take alone. The
    loopback stand-ins keep their state in the directory; every container and image the run
    makes carries its label, and goes when the run ends."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.id = self.directory.name
        self.label = "%s=%s" % (RUN_LABEL, self.id)

    @contextlib.contextmanager
    def locked(self, name, mode=fcntl.LOCK_EX):
        with open(self.directory / (name + ".lock"), "a") as lock:
            fcntl.flock(lock, mode)
            yield

    def once(self, name, make):
        """make()'s result (anything JSON holds), made by the first worker that asks; the others
        wait for it and read it. A failure is kept: whoever asks later fails at once."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path = self.directory / (name + ".json")
        with self.locked(name):
            if not path.exists():
                try:
                    stored = {"value": make()}
                except (Exception, pytest.fail.Exception) as error:
                    path.write_text(json.dumps({"error": "%s: %s" % (type(error).__name__, error)}))
                    raise
                path.write_text(json.dumps(stored))
        stored = json.loads(path.read_text())
        if "error" in stored:
            pytest.fail("%s failed earlier in this run:\n%s" % (name, stored["error"][-6000:]), pytrace=False)
        return stored["value"]

    def end(self):
        """Stop this run's loopback servers, remove the containers and images it made (its label)."""
        loopback.stop_all(str(self.directory))
        if not DOCKER:
            return
        label = "label=" + self.label
        containers = docker("ps", "--all", "--quiet", "--filter", label, check=False).stdout.split()
        if containers:
            docker("rm", "--force", "--volumes", *containers, check=False)
        images = docker("image", "ls", "--quiet", "--filter", label, check=False).stdout.split()
        if images:
            docker("rmi", "--force", *images, check=False)

    @contextlib.contextmanager
    def machine(self, exclusive):
        """Hold the machine shared with other tests, or alone: a reader-writer lock across
        processes that lets a waiting exclusive test in first. It takes the turnstile, which
        every test passes on its way in, then waits for the tests inside to finish."""
        if exclusive:
            with self.locked("machine-turnstile"), self.locked("machine"):
                yield
            return
        with self.locked("machine-turnstile"):
            shared = open(self.directory / "machine.lock", "a")
            fcntl.flock(shared, fcntl.LOCK_SH)
        with shared:
            yield
