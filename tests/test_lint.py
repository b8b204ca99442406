"""The repository is lint-clean, linted the way its users lint it: ansible-lint (production
profile, .ansible-lint), yamllint (.yamllint) and hadolint, each from the repository's .venv
(tests/requirements.txt pins them), run from the repository's root. No network is needed."""
import os
import subprocess

import pytest

from harness.config import REPO

pytestmark = pytest.mark.no_engine

VENV_BIN = REPO / ".venv" / "bin"


def lint(*command, **env):
    """Run a linter from .venv/bin in the repository's root; fail with its output unless it exits 0."""
    # .venv/bin first on PATH: ansible-lint runs ansible-playbook --syntax-check from there.
    environment = dict(os.environ, PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""),
                       NO_COLOR="1", **env)
    result = subprocess.run([str(VENV_BIN / command[0]), *command[1:]], cwd=str(REPO),
                            env=environment, capture_output=True, text=True, timeout=600)
    returncode = result.returncode
    assert returncode == 0, "%s exited %d:\n%s\n%s" % (
        " ".join(command), returncode, result.stdout, result.stderr)


def test_ansible_lint_is_clean():
    # --offline (also set in .ansible-lint): requirements.yml is not installed from Galaxy,
    # schemas are not refreshed and no newer release is looked for.
    lint("ansible-lint", "--offline", "--nocolor", ANSIBLE_LINT_SKIP_SCHEMA_UPDATE="1")


def test_yamllint_is_clean():
    # --strict: warnings fail too.
    lint("yamllint", "--strict", "--format", "parsable", ".")


def test_hadolint_is_clean():
    patterns = ("examples/*/Dockerfile", "images/*/Dockerfile", "tests/images/*/Dockerfile",
                "tests/bench/Dockerfile")
    dockerfiles = ["Dockerfile"] + sorted(
        str(path.relative_to(REPO)) for pattern in patterns for path in REPO.glob(pattern))
    assert len(dockerfiles) > 1, "no Dockerfile found under tests/images"
    lint("hadolint", "--no-color", *dockerfiles)


def test_ruff_is_clean():
    lint("ruff", "check", "--no-cache", "--output-format", "concise", ".")


def test_shellcheck_is_clean():
    # Every shell script in the repository: by name (*.sh), else by its #! line; not the Jinja2
    # templates of scripts (*.j2), which are not shell until rendered.
    shells = (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash")
    tracked = subprocess.run(["git", "ls-files"], cwd=str(REPO), capture_output=True, text=True, check=True)
    scripts = [path for path in sorted(tracked.stdout.split())
               if path.endswith(".sh") or (not path.endswith(".j2")
                                           and (REPO / path).read_bytes()[:32].split(b"\n")[0] in shells)]
    assert "docker/run-playbook" in scripts and "tests/run.sh" in scripts, scripts
    # -x: follow the files they source (their `# shellcheck source=` lines name them).
    lint("shellcheck", "-x", *scripts)
