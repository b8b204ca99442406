"""One program alone in the foreground (run-uwsgi, run-nginx: installed by the entrypoint role,
one for each program supervisord runs in the image), for an orchestrator that runs nginx and
uWSGI in containers of their own: the program's command and stop as supervisord has them
(command, stopsignal, stopwaitsecs), the same drain on stop as run-supervisord's.

  TERM             the drain (DRAIN_SECONDS; a second TERM cuts it short), then the program's
                   stop signal (nginx: QUIT, finishing its requests); KILL after stopwaitsecs
  INT, QUIT        the program's stop signal at once
  HUP              passed on: the program's reload
  exit status      the program's; when it stopped on its own, after saying so, never 0 (1 for
                   its 0), so that an orchestrator restarts it

As the container's first process it also reaps what is left to it. Python 2.7 and 3."""
from __future__ import print_function

import errno
import fcntl
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import time

from uwsgi_nginx import drain

NAME = "uwsgi-nginx-program"


def exit_status(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Program(object):
    def __init__(self, program, state_dir):
        self.name = program["name"]
        self.command = shlex.split(program["command"])
        self.stop_signal = getattr(signal, "SIG" + program.get("stopsignal", "TERM"))
        self.stop_wait = float(program.get("stopwaitsecs", 10))
        self.state_dir = state_dir
        self.process = None
        self.received = []
        # When the drain ends, when the program is killed unless it has stopped, and whether it was.
        self.drain_until = None
        self.kill_at = None
        self.killed = False

    def run(self):
        wakeup_read = receive_signals(
            (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD), self.received)
        self.process = subprocess.Popen(self.command, close_fds=True)
        while True:
            self.handle_signals()
            status = self.reap()
            if status is not None:
                return self.finished(status)
            self.wait_for_signal(wakeup_read)

    def handle_signals(self):
        while self.received:
            number = self.received.pop(0)
            if number == signal.SIGHUP:
                self.signal_program(signal.SIGHUP)
            elif number == signal.SIGTERM and self.drain_until is None and self.kill_at is None:
                seconds = drain.begin(self.state_dir)
                self.drain_until = time.time() + seconds
            elif number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                self.stop()
        if self.drain_until is not None and self.kill_at is None and time.time() >= self.drain_until:
            self.stop()
        if self.kill_at is not None and not self.killed and time.time() >= self.kill_at:
            print("%s: %s still running after %gs: killing it" % (NAME, self.name, self.stop_wait), file=sys.stderr)
            self.signal_program(signal.SIGKILL)
            self.killed = True

    def stop(self):
        if self.kill_at is None:
            self.signal_program(self.stop_signal)
            self.kill_at = time.time() + self.stop_wait

    def signal_program(self, number):
        try:
            os.kill(self.process.pid, number)
        except OSError as error:  # already gone: reap() will tell
            if error.errno != errno.ESRCH:
                raise

    def reap(self):
        """The program's wait status once it has exited; any other child (left to the first
        process of the container) is reaped too."""
        for pid, status in reaped():
            if pid == self.process.pid:
                return status
        return None

    def wait_for_signal(self, wakeup_read):
        deadlines = [deadline for deadline in (self.drain_until if self.kill_at is None else None,
                                               None if self.killed else self.kill_at) if deadline is not None]
        wait_for_signal(wakeup_read, max(0, min(deadlines) - time.time()) if deadlines else None)

    def finished(self, status):
        if self.kill_at is not None:
            return exit_status(status)
        print("%s: %s stopped on its own (exit status %d)" % (NAME, self.name, exit_status(status)),
              file=sys.stderr)
        return exit_status(status) or 1


def receive_signals(numbers, received):
    """Each signal of numbers, as it arrives, appended to received and waking wait_for_signal;
    returns the wakeup pipe's end wait_for_signal watches."""
    wakeup_read, wakeup_write = os.pipe()
    for descriptor in (wakeup_read, wakeup_write):
        set_nonblocking(descriptor)
    signal.set_wakeup_fd(wakeup_write)
    for number in numbers:
        signal.signal(number, lambda number, frame: received.append(number))
    return wakeup_read


def reaped():
    """(pid, wait status) of every child that has exited (the first process of a container also
    gets the orphans of others)."""
    found = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            if error.errno == errno.ECHILD:
                return found
            raise
        if pid == 0:
            return found
        found.append((pid, status))


def wait_for_signal(wakeup_read, timeout):
    """Until a signal arrives (its handler wrote to the wakeup pipe) or timeout (None: none)."""
    try:
        ready = select.select([wakeup_read], [], [], timeout)[0]
    except (select.error, OSError) as error:  # Python 2: EINTR is an error
        if error.args[0] != errno.EINTR:
            raise
        return
    if ready:
        try:
            os.read(wakeup_read, 512)
        except OSError as error:
            if error.errno != errno.EAGAIN:
                raise


def set_nonblocking(descriptor):
    flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    fcntl.fcntl(descriptor, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def main(argv, config_path, name):
    if argv:
        print("usage: run-%s (no arguments: the program's command is the image's)" % name, file=sys.stderr)
        return 2
    with open(config_path) as config_file:
        config = json.load(config_file)
    [program] = [program for program in config["programs"] if program["name"] == name]
    sys.stdout.flush()
    return Program(program, config["state_dir"]).run()
