"""wrk, the load generator of the load tests and the benchmark: one bounded run, its numbers."""
import json
import os
import subprocess
import threading

REPORT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk-report.lua")


def run(url, connections, seconds, timeout=5, threads=None, prefix=(), headers=()):
    """Load url with this many connections for this many seconds. Returns wrk's counts:
    requests, non_2xx_3xx, socket_errors (connect, read, write, timeout), latencies in
    microseconds, ok_per_second. prefix: a command wrk runs under (nsenter, taskset); headers:
    "Name: value" lines sent with every request."""
    threads = min(connections, threads or os.cpu_count() or 2)
    # 2,000 connections need more open files than a shell's default 1,024.
    command = [*prefix, "prlimit", "--nofile=20000:20000", "wrk", "--threads", str(threads),
               "--connections", str(connections), "--duration", "%ds" % seconds,
               "--timeout", "%ds" % timeout, "--script", REPORT_SCRIPT,
               *(argument for header in headers for argument in ("--header", header)), url]
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            timeout=seconds + 60).stdout
    report = json.loads(output.strip().splitlines()[-1])
    report["socket_errors"] = report["connect"] + report["read"] + report["write"] + report["timeout"]
    report["ok_per_second"] = (report["requests"] - report["non_2xx_3xx"]) / (report["duration_us"] / 1e6)
    return report


class background:
    """`with background(url, connections, seconds) as load:` runs wrk in a thread while the
    block runs; leaving the block waits for wrk to end, then load.report holds its counts."""

    def __init__(self, url, connections, seconds, **options):
        self.report, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(url, connections, seconds), kwargs=options)

    def _run(self, *args, **options):
        try:
            self.report = run(*args, **options)
        except Exception as error:  # raised again in the test's thread, on leaving the block
            self.error = error

    def __enter__(self):
        self.thread.start()
        return self

    @property
    def running(self):
        return self.thread.is_alive()

    def __exit__(self, *exc_info):
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error
