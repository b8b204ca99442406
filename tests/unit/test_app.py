"""What a start learns of the app (roles/entrypoint/files/uwsgi_nginx/app.py), from files these
tests write: the options of its uWSGI ini, whether they load the app, the callable its module
binds. Standard library only: runs on Python 3 (make check) and on the image's Python (2.7)."""
import unittest

from support import Files
from uwsgi_nginx import app


class IniTest(Files):
    def test_options_of_the_uwsgi_section_only(self):
        path = self.file("uwsgi.ini", "; comment\n[uwsgi]\nwsgi_file = /srv/app.py\nprocesses=4\n"
                                      "# module = commented\n[other]\nmodule = elsewhere\n")
        self.assertEqual(app.ini_options(path), set(["wsgi-file", "processes"]))
        self.assertEqual(app.loaders(app.ini_options(path)), ["wsgi-file"])

    def test_an_ini_that_only_tunes_loads_nothing(self):
        self.assertEqual(app.loaders(app.ini_options(self.file("uwsgi.ini", "[uwsgi]\ncallable = app\nthreads = 2\n"))),
                         [])
        self.assertEqual(app.loaders(app.ini_options(self.file("uwsgi.ini", "[uwsgi]\nmodule = main\n"))), ["module"])


class CallableTest(Files):
    def test_application_first_then_app(self):
        self.file("main.py", "def application(environ, start_response):\n    pass\napp = application\n")
        self.assertEqual(app.callable_of(self.root, "main"), "application")
        self.file("flaskapp.py", "from flask import Flask\napp = Flask(__name__)\n")
        self.assertEqual(app.callable_of(self.root, "flaskapp"), "app")

    def test_imported_and_unpacked_names_count(self):
        self.file("pkg/__init__.py", "")
        self.file("pkg/wsgi.py", "from .factory import create as app\n")
        self.assertEqual(app.callable_of(self.root, "pkg.wsgi"), "app")
        self.file("pair.py", "app, other = make()\n")
        self.assertEqual(app.callable_of(self.root, "pair"), "app")
        self.file("pkg2/__init__.py", "application = object()\n")
        self.assertEqual(app.callable_of(self.root, "pkg2"), "application")

    def test_nothing_known_when_nothing_is_found(self):
        self.assertIsNone(app.callable_of(self.root, "missing"))
        self.file("other.py", "web = object()\n")
        self.assertIsNone(app.callable_of(self.root, "other"))
        self.file("broken.py", "def (:\n")
        self.assertIsNone(app.callable_of(self.root, "broken"))


if __name__ == "__main__":
    unittest.main()
