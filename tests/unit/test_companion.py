"""A command with a companion beside it (roles/entrypoint/files/uwsgi_nginx/companion.py: the
entrypoint with METRICS_PORT set), run in a child process as the container runs it, with
programs of these tests that say what happens to them: signals passed on to the command, the
companion started again when it stops on its own, stopped when the command ends, the command's
exit status. Standard library only: runs on Python 3 (make check) and on the image's Python (2.7)."""
import os
import signal
import time

from support import Runner

# Says "<name> ready <pid>", then each signal it gets; TERM ends it with status 3; with --exit, it
# stops on its own once a file says so.
PROGRAM = """
import os, signal, sys, time
name = sys.argv[1]
def said(number, frame):
    sys.stdout.write("%s got %d\\n" % (name, number))
    sys.stdout.flush()
    if number == signal.SIGTERM:
        sys.exit(3)
for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1):
    signal.signal(number, said)
sys.stdout.write("%s ready %d\\n" % (name, os.getpid()))
sys.stdout.flush()
while True:
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        os.remove(sys.argv[2])
        sys.exit(5)
    time.sleep(0.02)
"""


class CompanionTest(Runner):
    def setUp(self):
        Runner.setUp(self)
        program = self.file("program.py", PROGRAM)
        self.stop_file = os.path.join(self.root, "stop-companion")
        self.run_package("import os; from uwsgi_nginx import companion; "
                         "sys.exit(companion.run([sys.executable, %r, 'command'], dict(os.environ), "
                         "[sys.executable, %r, 'companion', %r], None, dict(os.environ)))"
                         % (program, program, self.stop_file))
        self.ready = dict(self.line().split(" ready ") for _ in range(2))

    def test_signals_go_to_the_command_and_its_status_is_the_container_s(self):
        for number in (signal.SIGHUP, signal.SIGUSR1):
            self.runner.send_signal(number)
            self.assertEqual(self.line(), "command got %d" % number)
        self.runner.send_signal(signal.SIGTERM)
        out, err = self.runner.communicate()
        self.assertEqual(self.runner.returncode, 3)
        # The command stopped, then the companion (its TERM), and nothing more was started.
        self.assertEqual(out.decode("ascii").splitlines(), ["command got 15", "companion got 15"])
        companion_pid = int(self.ready["companion"])
        self.assertRaises(OSError, os.kill, companion_pid, 0)

    def test_a_companion_that_stops_on_its_own_is_started_again_and_the_command_goes_on(self):
        started = time.time()
        with open(self.stop_file, "w"):
            pass
        name, _, pid = self.line().partition(" ready ")
        self.assertEqual(name, "companion")
        self.assertNotEqual(pid, self.ready["companion"])
        self.assertGreaterEqual(time.time() - started, 1)  # after its first delay, a second
        self.runner.send_signal(signal.SIGHUP)
        self.assertEqual(self.line(), "command got 1")
        self.assertIsNone(self.runner.poll())
        self.runner.send_signal(signal.SIGTERM)
        self.runner.communicate()
        self.assertEqual(self.runner.returncode, 3)
