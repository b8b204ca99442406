"""What the unit tests share: the entrypoint's package on the path, and files in a temporary
directory. Standard library only (the tests run on the image's Python 2.7 too)."""
import os
import shutil
import sys
import tempfile
import unittest

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "entrypoint", "files")
sys.path.insert(0, FILES)


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
