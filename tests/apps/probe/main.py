"""A WSGI app for the tests, Python 2.7 and 3: tells what it sees.

    /slow?seconds=S   answers after S seconds
    /hang             never answers in time: sleeps HANG_SECONDS, then answers
    /raise            raises an exception (nginx answers 500)
    /die              the worker that takes it is killed (SIGKILL) before it answers
    /pid              the process ID of the worker that answers
    /grow?mb=N        keeps N MB more in the worker's memory, for good
    /text?size=N      N bytes of text/plain
    /write?path=P     appends a line to the file P (an error, 500, when it may not)
    /environ          its process environment, as JSON
    /wsgi             the request's WSGI environ (its text values), as JSON
    /websocket        a WebSocket: each message echoed; "wsgi" answered with /wsgi's JSON
    anything else     "probe app", with the path in the X-Probe-Path header
"""
import json
import os
import signal
import time

try:
    from urllib.parse import parse_qs
except ImportError:  # Python 2
    from urlparse import parse_qs

# Longer than any timeout the tests set, and still bounded: a worker nothing kills comes back.
HANG_SECONDS = 300
# What /grow keeps.
KEPT = []


class ProbeError(Exception):
    """What /raise raises."""


def wsgi_variables(environ):
    return json.dumps(dict((key, value) for key, value in environ.items() if isinstance(value, str)))


def websocket(environ):
    import uwsgi  # only under uWSGI

    uwsgi.websocket_handshake()
    while True:
        try:
            message = uwsgi.websocket_recv()
        except IOError:  # the client closed the connection
            return []
        uwsgi.websocket_send(wsgi_variables(environ).encode("utf-8") if message == b"wsgi" else message)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/websocket":
        return websocket(environ)
    if path == "/slow":
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["0.5"])[0])
        time.sleep(seconds)
        body = ("slept %s" % seconds).encode("utf-8")
    elif path == "/hang":
        time.sleep(HANG_SECONDS)
        body = ("hung for %s seconds" % HANG_SECONDS).encode("utf-8")
    elif path == "/raise":
        raise ProbeError("raised on purpose by the probe app's /raise")
    elif path == "/die":
        os.kill(os.getpid(), signal.SIGKILL)
    elif path == "/grow":
        megabytes = int(parse_qs(environ.get("QUERY_STRING", "")).get("mb", ["1"])[0])
        KEPT.append(b"x" * (megabytes << 20))
        body = ("kept %d MB more" % megabytes).encode("utf-8")
    elif path == "/text":
        body = b"text " * (int(parse_qs(environ.get("QUERY_STRING", "")).get("size", ["1000"])[0]) // 5)
    elif path == "/write":
        target = parse_qs(environ.get("QUERY_STRING", "")).get("path")[0]
        with open(target, "a") as output:
            output.write("written by the app\n")
        body = ("wrote %s" % target).encode("utf-8")
    elif path == "/pid":
        body = str(os.getpid()).encode("utf-8")
    elif path == "/environ":
        body = json.dumps(dict(os.environ)).encode("utf-8")
    elif path == "/wsgi":
        body = wsgi_variables(environ).encode("utf-8")
    else:
        body = b"probe app"
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Probe-Path", path),
    ])
    return [body]
