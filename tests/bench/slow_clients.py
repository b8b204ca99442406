"""Slow clients for `make bench`: CONNECTIONS clients each ask for URL's path again and again,
each reading its answer at RATE bytes a second through a small receive buffer (a slow link),
for SECONDS. Prints one JSON line with the counts wrk's report has: requests (answers read
whole), non_2xx_3xx, socket errors (connect, read, timeout, and their sum), and bytes (of 2xx answers, read
by the end, whole or not: at 2,000 clients most answers are still being read when the run
ends) and the latencies of the first byte (the server's queue, as a slow client sees it).

    python3 slow_clients.py URL CONNECTIONS SECONDS [--rate 262144] [--timeout 30]
"""
import argparse
import asyncio
import json
import socket
import time
import urllib.parse

CHUNK = 16384


async def one_answer(host, port, path, rate, counts, first_bytes):
    started = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
    sock.setblocking(False)
    try:
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError:
            counts["connect"] += 1
            return False
        reader, writer = await asyncio.open_connection(sock=sock, limit=CHUNK * 4)
        writer.write(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path).encode())
        head = await reader.readuntil(b"\r\n\r\n")
        first_bytes.append(time.monotonic() - started)
        status = int(head.split(b" ", 2)[1])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        received = 0
        while True:
            reading = time.monotonic()
            data = await reader.read(CHUNK)
            if not data:
                break
            received += len(data)
            if 200 <= status < 300:
                counts["bytes"] += len(data)
            await asyncio.sleep(max(0.0, len(data) / rate - (time.monotonic() - reading)))
        writer.close()
        if length is not None and received != length:
            counts["read"] += 1
            return False
        if not 200 <= status < 400:
            counts["non_2xx_3xx"] += 1
        return True
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        counts["read"] += 1
        return False
    finally:
        sock.close()


async def client(host, port, path, rate, timeout, deadline, counts, first_bytes):
    while time.monotonic() < deadline:
        started = time.monotonic()
        cut_by_the_end = deadline - started < timeout
        try:
            answered = await asyncio.wait_for(one_answer(host, port, path, rate, counts, first_bytes),
                                              deadline - started if cut_by_the_end else timeout)
        except asyncio.TimeoutError:
            if cut_by_the_end:
                return  # still reading when the run ended: neither an answer nor an error
            counts["timeout"] += 1
            continue
        if answered:
            counts["requests"] += 1


async def run(url, connections, seconds, rate, timeout):
    parts = urllib.parse.urlsplit(url)
    counts = dict(requests=0, non_2xx_3xx=0, connect=0, read=0, write=0, timeout=0, bytes=0)
    latencies = []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(client(parts.hostname, parts.port or 80, parts.path or "/", rate, timeout, deadline,
                                  counts, latencies) for _ in range(connections)))
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e6 if latencies else 0

    counts.update(duration_us=(time.monotonic() - started) * 1e6, p50_us=percentile(0.5), p99_us=percentile(0.99),
                  socket_errors=counts["connect"] + counts["read"] + counts["write"] + counts["timeout"])
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("connections", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--rate", type=int, default=262144, help="bytes a second each client reads")
    parser.add_argument("--timeout", type=float, default=30, help="seconds an answer may take, whole")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.seconds, args.rate, args.timeout))))


if __name__ == "__main__":
    main()
