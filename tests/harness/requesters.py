"""Threads asking one request after another while a block runs, every answer counted."""
import threading
import time


class Requesters:
    """threads threads each calling ask() again and again (it returns None for a good answer,
    else what failed) until the block ends or seconds have passed: the answers counted, and the
    failures kept."""

    def __init__(self, ask, threads, seconds=90):
        self.ask, self.deadline = ask, time.monotonic() + seconds
        self.answered, self.failed = 0, []
        self.stopped, self.lock = threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self):
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            failure = self.ask()
            with self.lock:
                self.answered += 1
                if failure is not None:
                    self.failed.append(failure)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        for thread in self.threads:
            thread.join()
