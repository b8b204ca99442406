"""The image's HEALTHCHECK (uwsgi-nginx-healthcheck, installed by the entrypoint role): healthy
when nginx answers its health location with the app's answer, passed on by uWSGI: any status
below 500 (a 404 from the app included). 502 and 504 are nginx's own when uWSGI does not answer.
Unhealthy, "stopping", during the drain on stop. The entrypoint writes the URL at every start.
Python 2.7 and 3."""
from __future__ import print_function

import os

from uwsgi_nginx import drain

try:
    from http.client import HTTPConnection
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from httplib import HTTPConnection
    from urlparse import urlsplit

TIMEOUT_SECONDS = 3


def main(argv, url_file_path):
    if drain.stopping(os.path.dirname(url_file_path)):
        print("unhealthy: stopping (%s)" % drain.NAME)
        return 1
    try:
        with open(url_file_path) as url_file:
            url = url_file.read().strip()
        parts = urlsplit(url)
        connection = HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT_SECONDS)
        connection.request("GET", parts.path or "/", headers={"User-Agent": "uwsgi-nginx-healthcheck"})
        status = connection.getresponse().status
    except Exception as error:  # whatever went wrong, the answer is "unhealthy", with the reason
        print("unhealthy: %s" % error)
        return 1
    print("%s: %d %s" % (url, status, "healthy" if status < 500 else "unhealthy"))
    return 0 if status < 500 else 1
