"""A command with a companion beside it for the container's life: the entrypoint runs the
command so when METRICS_PORT is set, the metrics exporter (metrics.py) its companion. As the
container's first process:

  TERM, INT, QUIT,   passed on to the command, which stops (draining first) or reloads as it
  HUP, USR1, USR2    would alone
  the companion      started again a second after it stops on its own (then 2, 4, ... up to
                     30 s while it keeps stopping within a minute); it never stops the command
  the command's end  the companion is stopped (TERM, KILL after STOP_SECONDS) and the container
                     exits with the command's status
  orphans            reaped

Python 2.7 and 3."""
from __future__ import print_function

import errno
import os
import signal
import subprocess
import sys
import time

from uwsgi_nginx.program import exit_status, reaped, receive_signals, wait_for_signal

NAME = "uwsgi-nginx-entrypoint"
PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
STOP_SECONDS = 5
# A companion that ran this long before it stopped is started again after the first delay.
STEADY_SECONDS = 60
FIRST_DELAY, LONGEST_DELAY = 1, 30


def spawn(argv, environ, keep_descriptor=None):
    """argv as a child; keep_descriptor the one descriptor of ours it inherits."""
    if keep_descriptor is None:
        return subprocess.Popen(argv, env=environ, close_fds=True)
    if sys.version_info[0] >= 3:
        return subprocess.Popen(argv, env=environ, close_fds=True, pass_fds=(keep_descriptor,))
    return subprocess.Popen(argv, env=environ, close_fds=False)  # Python 2: descriptors are inherited


class Companion(object):
    def __init__(self, argv, environ, descriptor):
        self.argv, self.environ, self.descriptor = argv, environ, descriptor
        self.process, self.started, self.restart_at, self.delay = None, 0, None, FIRST_DELAY

    def start(self):
        self.process, self.started, self.restart_at = spawn(self.argv, self.environ, self.descriptor), time.time(), None

    def exited(self, status):
        lived = time.time() - self.started
        self.delay = FIRST_DELAY if lived >= STEADY_SECONDS else min(self.delay * 2, LONGEST_DELAY)
        self.restart_at = time.time() + self.delay
        self.process = None
        print("%s: %s stopped (exit status %d); starting it again in %d s" % (
            NAME, os.path.basename(self.argv[0]), exit_status(status), self.delay), file=sys.stderr)

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        deadline = time.time() + STOP_SECONDS
        while self.process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run(command, environ, companion_argv, descriptor, companion_environ):
    """Runs command and, beside it, companion_argv (which inherits descriptor); returns the
    command's exit status."""
    received = []
    wakeup_read = receive_signals(PASSED_ON + (signal.SIGCHLD,), received)
    main = spawn(command, environ)
    companion = Companion(companion_argv, companion_environ, descriptor)
    companion.start()
    while True:
        while received:
            number = received.pop(0)
            if number in PASSED_ON:
                try:
                    os.kill(main.pid, number)
                except OSError as error:
                    if error.errno != errno.ESRCH:
                        raise
        for pid, status in reaped():
            if pid == main.pid:
                companion.stop()
                return exit_status(status)
            if companion.process is not None and pid == companion.process.pid:
                companion.exited(status)
        if companion.restart_at is not None and time.time() >= companion.restart_at:
            companion.start()
        timeout = None if companion.restart_at is None else max(0, companion.restart_at - time.time())
        wait_for_signal(wakeup_read, timeout)

