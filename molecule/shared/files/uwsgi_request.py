#!/usr/bin/env python3
"""Send one request over the uwsgi protocol to a unix socket and print the raw response.

    uwsgi_request.py SOCKET [PATH] [--user NAME]

With --user, drops to that user (and its groups) before connecting, so the socket's
permissions are what is tested, not root's. Runs on the platform's python3, standard library only.
"""
import argparse
import grp
import os
import pwd
import socket
import struct
import sys


def packet(variables):
    """A uwsgi request packet: modifier1 0 (WSGI), the CGI-style variables, modifier2 0."""
    body = b""
    for key, value in variables.items():
        key, value = key.encode("latin-1"), value.encode("latin-1")
        body += struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value
    return struct.pack("<BHB", 0, len(body), 0) + body


def drop_privileges(name):
    user = pwd.getpwnam(name)
    os.setgroups(sorted({user.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}))
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("--user")
    args = parser.parse_args()
    if args.user:
        drop_privileges(args.user)
    request = packet({
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": args.path,
        "PATH_INFO": args.path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "molecule",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "molecule",
    })
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(10)
    connection.connect(args.socket)
    connection.sendall(request)
    response = b""
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        response += chunk
    connection.close()
    sys.stdout.write(response.decode("utf-8", "replace"))


if __name__ == "__main__":
    main()
