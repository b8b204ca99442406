"""One program alone (roles/entrypoint/files/uwsgi_nginx/program.py, run-uwsgi and run-nginx in
the image), run in a child process as the container runs it, with a program of these tests that
says which signals it gets: HUP passed on; TERM, the drain, then the program's stop signal; a
second TERM cuts the drain short; KILL after stopwaitsecs; the program's exit status when asked
to stop, 1 when it stopped on its own. Standard library only: runs on Python 3 (make check) and
on the image's Python (2.7)."""
import json
import os
import signal
import sys
import time
import unittest

from support import Runner

# Says "ready", then each signal it gets; QUIT ends it (exit status 3), unless told to ignore it.
PROGRAM = """
import signal, sys, time
def said(number, frame):
    sys.stdout.write("got %d\\n" % number)
    sys.stdout.flush()
    if number == signal.SIGQUIT and "--ignore-quit" not in sys.argv:
        sys.exit(3)
for number in (signal.SIGHUP, signal.SIGQUIT):
    signal.signal(number, said)
sys.stdout.write("ready\\n")
sys.stdout.flush()
if "--exit" in sys.argv:
    sys.exit(0)
while True:
    time.sleep(0.05)
"""


class ProgramTest(Runner):
    def run_program(self, *arguments, **settings):
        self.file("program.py", PROGRAM)
        self.file("state/drain-seconds", "%d\n" % settings.pop("drain", 0))
        program = dict(name="fake", command="%s %s %s" % (sys.executable, os.path.join(self.root, "program.py"),
                                                        " ".join(arguments)), stopsignal="QUIT", **settings)
        config = self.file("config.json", json.dumps({"programs": [program],
                                                      "state_dir": os.path.join(self.root, "state")}))
        self.run_package("from uwsgi_nginx.program import main; sys.exit(main(sys.argv[1:], %r, 'fake'))" % config)
        self.assertEqual(self.line(), "ready")

    def test_hup_is_passed_on_and_term_stops_with_the_programs_signal(self):
        self.run_program()
        self.runner.send_signal(signal.SIGHUP)
        self.assertEqual(self.line(), "got %d" % signal.SIGHUP)
        self.runner.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish()[:2], (3, ["got %d" % signal.SIGQUIT]))

    def test_term_drains_first_and_a_second_term_cuts_it_short(self):
        self.run_program(drain=60)
        started = time.time()
        self.runner.send_signal(signal.SIGTERM)
        stopping = os.path.join(self.root, "state", "stopping")
        while not os.path.exists(stopping):
            self.assertLess(time.time() - started, 10, "no drain mark")
            time.sleep(0.02)
        self.assertIsNone(self.runner.poll())
        self.runner.send_signal(signal.SIGTERM)
        code, out, err = self.finish()
        self.assertEqual((code, out), (3, ["got %d" % signal.SIGQUIT]))
        self.assertIn("stopping in 60 seconds", err)

    def test_a_program_that_does_not_stop_is_killed_after_stopwaitsecs(self):
        self.run_program("--ignore-quit", stopwaitsecs=0.5)
        self.runner.send_signal(signal.SIGINT)
        code, out, err = self.finish()
        self.assertEqual((code, out), (128 + signal.SIGKILL, ["got %d" % signal.SIGQUIT]))
        self.assertIn("fake still running after 0.5s: killing it", err)

    def test_a_program_that_stops_on_its_own_exits_1(self):
        self.run_program("--exit")
        code, _, err = self.finish()
        self.assertEqual(code, 1)
        self.assertIn("fake stopped on its own (exit status 0)", err)


if __name__ == "__main__":
    unittest.main()
