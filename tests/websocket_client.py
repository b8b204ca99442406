"""A WebSocket client (RFC 6455) small enough to read: the opening handshake, masked frames out,
frames in. Only what the tests need: no extensions, no fragmented messages."""
import base64
import hashlib
import os
import socket
import struct

# The GUID the RFC appends to the client's key to prove the server read the handshake.
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocket:
    def __init__(self, port, path, host="127.0.0.1", timeout=10, headers=()):
        """Connects and does the opening handshake, with headers ((name, value) pairs) besides its
        own; self.status and self.headers are the answer's."""
        self.connection = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        self.connection.sendall(b"\r\n".join([
            b"GET %s HTTP/1.1" % path.encode(), b"Host: %s:%d" % (host.encode(), port), b"Upgrade: websocket",
            b"Connection: Upgrade", b"Sec-WebSocket-Key: " + key, b"Sec-WebSocket-Version: 13"]
            + [("%s: %s" % header).encode("latin-1") for header in headers] + [b"", b""]))
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])
        self.headers = dict((name.lower(), value.strip()) for name, _, value in
                            (line.partition(":") for line in head[1:]))
        self.expected_accept = base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest()).decode()

    def _read(self, size):
        while len(self.buffer) < size:
            data = self.connection.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.buffer += data
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def _read_until(self, end):
        while end not in self.buffer:
            data = self.connection.recv(65536)
            if not data:
                raise EOFError("the server closed the connection before %r" % end)
            self.buffer += data
        taken, _, self.buffer = self.buffer.partition(end)
        return taken

    def send(self, payload, opcode=TEXT):
        """One frame, FIN set, masked as a client's must be."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if len(payload) < 126:
            length = struct.pack("!B", 0x80 | len(payload))
        elif len(payload) < 1 << 16:
            length = struct.pack("!BH", 0x80 | 126, len(payload))
        else:
            length = struct.pack("!BQ", 0x80 | 127, len(payload))
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.connection.sendall(struct.pack("!B", 0x80 | opcode) + length + mask + masked)

    def receive(self):
        """(opcode, payload) of the next frame that is not a ping (pings are answered)."""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
            opcode = first & 0x0F
            if opcode == PING:
                self.send(payload, PONG)
                continue
            return opcode, payload

    def close(self):
        """Sends a close frame (status 1000); True when the server then ends the connection."""
        try:
            self.send(struct.pack("!H", 1000), CLOSE)
            while True:
                self.receive()
        except EOFError:
            return True
        except socket.timeout:
            return False
        finally:
            self.connection.close()
