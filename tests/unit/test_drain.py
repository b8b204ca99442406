"""The drain on stop (roles/entrypoint/files/uwsgi_nginx/drain.py): nothing without a length, a
mark the health check reads and a wait of that length with one; the entrypoint writes the length
and clears a mark a restart finds. Standard library only: runs on Python 3 (make check) and on
the image's Python (2.7)."""
import os
import unittest

from support import Files
from test_entrypoint import Configured
from uwsgi_nginx import drain, entrypoint, healthcheck


class DrainTest(Files):
    def setUp(self):
        Files.setUp(self)
        self.slept = []
        sleep, drain.time.sleep = drain.time.sleep, self.slept.append
        self.addCleanup(setattr, drain.time, "sleep", sleep)

    def test_without_a_length_nothing_waits_or_is_marked(self):
        self.assertEqual(drain.main([], self.root), 0)
        self.file("drain-seconds", "0\n")
        self.assertEqual(drain.main([], self.root), 0)
        self.assertEqual((self.slept, drain.stopping(self.root)), ([], False))

    def test_a_length_marks_the_container_stopping_then_waits_it(self):
        self.file("drain-seconds", "5\n")
        self.assertEqual(drain.main([], self.root), 0)
        self.assertEqual((self.slept, drain.stopping(self.root)), ([5], True))
        self.assertEqual(healthcheck.main([], self.root), 1)


class EntrypointTest(Configured):
    def test_the_start_writes_the_length_and_clears_the_last_stops_mark(self):
        self.config["variables"]["entrypoint_drain_seconds"] = 0
        entrypoint.start(self.config, {"DRAIN_SECONDS": "7"}, 2, 0)
        self.assertEqual(self.read("state/drain-seconds"), "7\n")
        self.write("state/" + drain.STOPPING_FILE, "")
        entrypoint.start(self.config, {}, 2, 0)
        self.assertEqual(self.read("state/drain-seconds"), "0\n")
        self.assertFalse(os.path.exists(self.path("state/" + drain.STOPPING_FILE)))


if __name__ == "__main__":
    unittest.main()
