"""The unit tests (tests/unit) on the image's own Python, the one its entrypoint runs on (2.7 by
default): the standard library's unittest, in a container of the image, with the repository
mounted read-only. `make check` runs the same tests on the test tools' Python 3."""
import unittest

from harness.config import REPO
from harness.docker_client import docker

UNIT_TESTS = REPO / "tests" / "unit"


def test_the_unit_tests_pass_on_the_images_python(image, run):
    expected = unittest.defaultTestLoader.discover(str(UNIT_TESTS), top_level_dir=str(UNIT_TESTS)).countTestCases()
    result = docker("run", "--rm", "--label", run.label, "--entrypoint", "python",
                    "--env", "PYTHONDONTWRITEBYTECODE=1", "--volume", "%s:/src:ro" % REPO, "--workdir", "/tmp",
                    image, "-m", "unittest", "discover", "-v", "-s", "/src/tests/unit", "-t", "/src/tests/unit",
                    check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran %d tests" % expected in output, output
