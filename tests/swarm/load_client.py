"""A steady load on a Swarm service, from a container on its network: each request resolves the
service's name (endpoint_mode dnsrr: the addresses of its running, healthy tasks), picks one at
random, and asks for / on a connection of its own (HTTP/1.0). A connection that cannot be made
(refused, unreachable, timed out: nothing was sent) is made to another address, as a proxy in
front does, and counted (not_connected). Every request counts: an error once connected, a timeout and
a status other than 200 are failures. Which task answered (the X-Served-By header the test's app
sends) is recorded by the address asked, in the file `routes` of its control directory. Runs
until the file `stop` appears there, until it has counted as many answers after the file `mark`
appeared as the file `answers-after-mark` says, or for at most MAX_SECONDS. Prints one JSON
summary. Python 2.7 and 3 (it runs on the image under test).

    python load_client.py SERVICE PORT CONTROL_DIR THREADS"""
from __future__ import print_function

import json
import os
import random
import socket
import sys
import threading
import time

MAX_SECONDS = 300
TIMEOUT_SECONDS = 5
PAUSE_SECONDS = 0.02  # per thread, between two requests: a steady load, not a flood
KEPT_FAILURES = 100


class NotConnected(Exception):
    """No connection could be made: the request was never sent."""


def get(address, port, service):
    """(status, served by, body) of GET / on a new connection to address."""
    try:
        connection = socket.create_connection((address, port), timeout=TIMEOUT_SECONDS)
    except (socket.error, socket.timeout) as error:
        raise NotConnected(str(error) or type(error).__name__)
    try:
        connection.sendall(("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % service).encode("ascii"))
        response = b""
        while True:
            data = connection.recv(65536)
            if not data:
                break
            response += data
    finally:
        connection.close()
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip())
                   for name, _, value in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split(" ", 2)[1]), headers.get("x-served-by"), body.decode("utf-8", "replace")


class Tally(object):
    def __init__(self, control_dir):
        self.lock = threading.Lock()
        self.control_dir = control_dir
        self.sent = self.failed = self.failed_after_mark = self.not_connected = 0
        self.failures = []
        self.answers = {}
        self.answers_after_mark = {}
        self.routes = {}

    def after_mark(self):
        with self.lock:
            return sum(self.answers_after_mark.values())

    def add_not_connected(self):
        with self.lock:
            self.not_connected += 1

    def add_route(self, address, served_by):
        """Writes the routes anew (whole, by a rename) when this one is new."""
        with self.lock:
            if served_by is None or served_by in self.routes.get(address, ()):
                return
            self.routes.setdefault(address, []).append(served_by)
            path = os.path.join(self.control_dir, "routes")
            with open(path + ".new", "w") as routes_file:
                json.dump(self.routes, routes_file)
            os.rename(path + ".new", path)

    def add(self, outcome, address, body, marked):
        with self.lock:
            self.sent += 1
            if outcome != "ok":
                self.failed += 1
                self.failed_after_mark += marked
                if len(self.failures) < KEPT_FAILURES:
                    self.failures.append({"error": outcome, "address": address})
                return
            self.answers[body] = self.answers.get(body, 0) + 1
            if marked:
                self.answers_after_mark[body] = self.answers_after_mark.get(body, 0) + 1


def load(service, port, control_dir, deadline, answers_after_mark, tally):
    while (time.time() < deadline and not os.path.exists(os.path.join(control_dir, "stop"))
           and tally.after_mark() < answers_after_mark):
        marked = os.path.exists(os.path.join(control_dir, "mark"))
        body = address = None
        try:
            addresses = sorted(set(info[4][0] for info in socket.getaddrinfo(service, port, socket.AF_INET)))
            random.shuffle(addresses)
            for address in addresses:
                try:
                    status, served_by, body = get(address, port, service)
                except NotConnected as error:
                    outcome = "not connected: %s" % error
                    tally.add_not_connected()
                    continue
                except (socket.error, socket.timeout, ValueError, IndexError) as error:
                    outcome = str(error) or type(error).__name__
                else:
                    outcome = "ok" if status == 200 else "status %d" % status
                    tally.add_route(address, served_by)
                break
        except socket.gaierror as error:
            outcome = "resolving %s: %s" % (service, error)
        tally.add(outcome, address, body, marked)
        time.sleep(PAUSE_SECONDS)


def main(service, port, control_dir, threads):
    tally = Tally(control_dir)
    deadline = time.time() + MAX_SECONDS
    with open(os.path.join(control_dir, "answers-after-mark")) as count_file:
        answers_after_mark = int(count_file.read())
    workers = [threading.Thread(target=load, args=(service, int(port), control_dir, deadline, answers_after_mark,
                                                   tally))
               for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    open(os.path.join(control_dir, "started"), "w").close()
    for worker in workers:
        worker.join()
    print(json.dumps({"sent": tally.sent, "failed": tally.failed, "failed_after_mark": tally.failed_after_mark,
                      "not_connected": tally.not_connected, "failures": tally.failures,
                      "answers": tally.answers, "answers_after_mark": tally.answers_after_mark}))


if __name__ == "__main__":
    main(*sys.argv[1:])
