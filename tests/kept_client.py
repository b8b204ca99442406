"""What tests/test_kept_connection.py runs inside the container, with the image's own Python (2.7
or 3): HTTP/1.1 requests on connections it keeps open, to uWSGI's sockets or to nginx, each
answer read to its Content-Length. Prints one JSON object.

    python -c "$(cat kept_client.py)" idle-worker SOCKET
    python -c "$(cat kept_client.py)" many-clients NGINX_ADDRESS CLIENTS REQUESTS_EACH
"""
import json
import socket
import sys
import threading
import time

# Longer than any answer here may take, shorter than the socket-timeout the tests give uWSGI:
# a connection that waits for a worker uWSGI holds on another fails, instead of being answered
# late.
TIMEOUT = 10


def connect(address):
    if address.startswith("/"):
        connection = socket.socket(socket.AF_UNIX)
        connection.settimeout(TIMEOUT)
        connection.connect(address)
        return connection
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), TIMEOUT)


def ask(connection, path):
    """(status, body, seconds) of a GET on this connection, which stays open."""
    start = time.time()
    connection.sendall(("GET %s HTTP/1.1\r\nHost: kept\r\n\r\n" % path).encode("ascii"))
    received = b""
    while b"\r\n\r\n" not in received:
        received += receive(connection)
    head, body = received.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    length = [int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")][0]
    while len(body) < length:
        body += receive(connection)
    return int(lines[0].split(" ")[1]), body.decode("utf-8"), time.time() - start


def receive(connection):
    chunk = connection.recv(65536)
    if not chunk:
        raise EOFError("the server closed the connection")
    return chunk


def idle_worker(socket_path):
    """One worker: a connection it answered stays open and idle while others come."""
    first = connect(socket_path)
    report = {"first": ask(first, "/pid")}
    second = connect(socket_path)
    report["second_while_first_idle"] = ask(second, "/pid")
    report["first_again"] = ask(first, "/pid")
    first.close()
    report["second_after_first_closed"] = ask(second, "/pid")
    return report


def many_clients(nginx_address, clients, requests_each):
    """Through nginx: clients at once, each asking on a connection of its own, one request after
    another; nginx sends them to uWSGI on the connections it keeps, to either worker."""
    answers, errors = [], []

    def client():
        try:
            connection = connect(nginx_address)
            for _ in range(int(requests_each)):
                answers.append(ask(connection, "/pid"))
        except (socket.error, EOFError) as error:
            errors.append("%s: %s" % (type(error).__name__, error))

    threads = [threading.Thread(target=client) for _ in range(int(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"answers": answers, "errors": errors}


if __name__ == "__main__":
    mode, arguments = sys.argv[1], sys.argv[2:]
    try:
        result = {"idle-worker": idle_worker, "many-clients": many_clients}[mode](*arguments)
    except (socket.error, EOFError) as error:
        result = {"error": "%s: %s" % (type(error).__name__, error)}
    sys.stdout.write(json.dumps(result))
