"""What the unit tests share: the entrypoint's package on the path, and files in a temporary
directory. Standard library only (the tests run on the image's Python 2.7 too)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
# The package uwsgi_nginx lies in two roles' files: the entrypoint's, and the settings
# contract's (each __init__.py extends the package to the other).
FILES = os.path.join(ROLES, "entrypoint", "files")
PACKAGE_PATHS = [FILES, os.path.join(ROLES, "settings", "files")]
sys.path[:0] = PACKAGE_PATHS
if "uwsgi_nginx" in sys.modules:  # imported from one of them already (tests/env/role_docs.py)
    sys.modules["uwsgi_nginx"].__path__[:0] = [os.path.join(path, "uwsgi_nginx") for path in PACKAGE_PATHS]


class Files(unittest.TestCase):
    """A test with a temporary directory of its own (self.root), removed afterwards."""

    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)

    def file(self, relative, text):
        """Writes text to root/relative (directories made as needed); returns the path."""
        path = os.path.join(self.root, relative)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "w") as output:
            output.write(text)
        return path


class Runner(Files):
    """A test that runs code of the package in a child process (self.runner), as the container
    runs it, and reads what it says; killed afterwards if it still runs."""

    def run_package(self, code, *arguments):
        self.runner = subprocess.Popen(
            [sys.executable, "-u", "-c", "import sys; sys.path[:0] = %r; %s" % (PACKAGE_PATHS, code)]
            + list(arguments), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.kill)

    def kill(self):
        if self.runner.poll() is None:
            self.runner.kill()
            self.runner.communicate()

    def line(self):
        return self.runner.stdout.readline().decode("ascii").strip()

    def finish(self):
        """(exit status, stdout's lines, stderr) once it has exited."""
        out, err = self.runner.communicate()
        return self.runner.returncode, out.decode("ascii").splitlines(), err.decode("ascii")
