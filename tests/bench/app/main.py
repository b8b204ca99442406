"""The app every contender of `make bench` serves, one workload per path:
  /       the hello world (the image's own answer);
  /io     waits 10 ms, as an app waits on a database, then answers a few bytes;
  /json   computes: renders a JSON document of about 4 KB from a few hundred values;
  /large  1 MB, for clients that read it slowly.
"""
import json
import sys
import time

HELLO = ("Hello World from a default Nginx uWSGI Python %d.%d app in a Docker container (default)"
         % sys.version_info[:2]).encode("utf-8")
LARGE = b"x" * (1024 * 1024)


def hello():
    return "text/plain; charset=utf-8", HELLO


def io():
    time.sleep(0.01)
    return "text/plain; charset=utf-8", b"waited 10 ms"


def document():
    items = [{"id": n, "name": "item %d" % n, "price": round(n * 1.07, 2), "tags": ["a", "b"][: n % 3]}
             for n in range(60)]
    body = {"items": items, "total": sum(item["price"] for item in items), "count": len(items)}
    return "application/json", json.dumps(body, sort_keys=True).encode("utf-8")


def large():
    return "application/octet-stream", LARGE


ROUTES = {"/": hello, "/io": io, "/json": document, "/large": large}


def application(environ, start_response):
    route = ROUTES.get(environ.get("PATH_INFO", "/"))
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    content_type, body = route()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
