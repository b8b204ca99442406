"""The drain on stop (uwsgi-nginx-drain, installed by the entrypoint role; run-supervisord runs it
on SIGTERM, before supervisord stops nginx and uWSGI; run-nginx and run-uwsgi do the same): for
DRAIN_SECONDS, which the entrypoint writes at every start, the container goes on serving while
its health check reports "stopping", so that what a load balancer still sends in the moments it
takes to forget the container is answered. Python 2.7 and 3."""
from __future__ import print_function

import os
import sys
import time

NAME = "uwsgi-nginx-drain"
# In the state directory: the drain's length (written at start), and the mark of a drain begun.
SECONDS_FILE = "drain-seconds"
STOPPING_FILE = "stopping"


def stopping(state_dir):
    return os.path.exists(os.path.join(state_dir, STOPPING_FILE))


def prepare(state_dir, seconds, write):
    """At start: the drain's length, written with write(path, text); a mark the last stop left
    (docker restart keeps /run) is cleared."""
    if stopping(state_dir):
        os.remove(os.path.join(state_dir, STOPPING_FILE))
    write(os.path.join(state_dir, SECONDS_FILE), "%s\n" % seconds)


def begin(state_dir):
    """Marks the container stopping, when the start gave a length; returns the length."""
    try:
        with open(os.path.join(state_dir, SECONDS_FILE)) as seconds_file:
            seconds = int(seconds_file.read())
    except (IOError, OSError, ValueError):  # no start wrote it: nothing to drain
        seconds = 0
    if seconds > 0:
        open(os.path.join(state_dir, STOPPING_FILE), "w").close()
        print("%s: stopping in %d seconds, serving until then" % (NAME, seconds), file=sys.stderr)
        sys.stderr.flush()
    return max(seconds, 0)


def main(argv, state_dir):
    seconds = begin(state_dir)
    if seconds:
        time.sleep(seconds)
    return 0
