"""The hello-world app the image serves until you replace /app with your own."""
import sys


def application(environ, start_response):
    body = (
        "Hello World from a default Nginx uWSGI Python %d.%d app in a Docker container (default)"
        % sys.version_info[:2]
    ).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
