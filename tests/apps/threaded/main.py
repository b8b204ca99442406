"""An app that uses threads as real apps do (tests/test_threads.py): a thread started at import
(an APM agent's, a metrics flusher's) that keeps taking a lock, and a thread pool and that lock
in every request. Like such a library, it starts its thread again in each worker, and makes its
lock anew there (a fork copies a lock another thread held: held forever), from an
os.register_at_fork hook on Python 3 (which runs when uWSGI forks as os.fork() does), from
uWSGI's post-fork hook on 2.7.

  /            one task run on the pool; the answer says which process and thread answered,
               whether the worker's own background thread runs, and how many forks it saw
  /sleep?s=N   sleeps N seconds first (the request harakiri kills)
Python 2.7 and 3."""
import json
import os
import sys
import threading
import time

try:
    from concurrent.futures import ThreadPoolExecutor
except ImportError:  # Python 2.7
    from multiprocessing.pool import ThreadPool
else:
    ThreadPool = None

STATE = {"lock": threading.Lock(), "ticks": 0, "tasks": 0, "forks_seen": 0, "pool": None, "ticker": None}


def tick():
    while True:
        with STATE["lock"]:
            STATE["ticks"] += 1
            # Some work under the lock, so that a fork often comes while this thread holds it.
            sum(range(2000))
        time.sleep(0.001)


def start():
    STATE["lock"] = threading.Lock()
    # Python 3's pool starts no process; 2.7's ThreadPool neither (multiprocessing.dummy).
    STATE["pool"] = ThreadPoolExecutor(4) if ThreadPool is None else ThreadPool(4)
    ticker = threading.Thread(target=tick, name="ticker")
    ticker.daemon = True
    ticker.start()
    STATE["ticker"] = ticker


def after_fork_in_child():
    STATE["forks_seen"] += 1
    start()


start()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
else:
    import uwsgi
    uwsgi.post_fork_hook = after_fork_in_child


def task(number):
    with STATE["lock"]:
        STATE["tasks"] += 1
        return number * 2


def run_on_pool(number):
    pool = STATE["pool"]
    if ThreadPool is None:
        return pool.submit(task, number).result(timeout=10)
    return pool.apply_async(task, (number,)).get(timeout=10)


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING", "s=0").partition("=")[2] or 0))
    body = json.dumps({
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "answer": run_on_pool(21),
        "ticker_alive": STATE["ticker"].is_alive(),
        "ticks": STATE["ticks"],
        "forks_seen": STATE["forks_seen"],
        "python": "%d.%d" % sys.version_info[:2],
    }).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
