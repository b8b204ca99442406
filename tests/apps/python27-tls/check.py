"""Run inside the Python 2.7 base (Python 2): TLS on loopback between this interpreter's ssl
module as client and as server. The test's CA is in the system store (update-ca-certificates),
the server's certificate names SERVER_NAME; prints what happened as JSON, for the test to judge.

    python2 check.py SERVER_CERT SERVER_KEY OTHER_CA
"""
import json
import socket
import ssl
import sys
import threading

SERVER_NAME = "python27-base.test"


class Server(threading.Thread):
    """Answers each connection's first line: "clean" with a reply and close_notify, "ragged"
    with a reply and a close without close_notify."""

    def __init__(self, cert, key):
        threading.Thread.__init__(self)
        self.daemon = True
        self.context = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
        self.context.load_cert_chain(cert, key)
        self.server_names = []
        self.context.set_servername_callback(self.record_name)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]

    def record_name(self, sslsock, name, context):
        self.server_names.append(name)

    def run(self):
        while True:
            raw, _ = self.listener.accept()
            try:
                tls = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, socket.error):
                raw.close()  # a client that refused our certificate
                continue
            try:
                request = tls.recv(64)
                tls.sendall(b"reply to " + request)
                if request == b"clean":
                    # Sends close_notify; the client closes without answering it.
                    tls.unwrap()
            except (ssl.SSLError, socket.error):
                pass  # a client that closed first
            # Without unwrap(): 2.7's close frees the connection without a close_notify; the
            # descriptor is closed with the last socket object that holds it.
            tls.close()
            raw.close()


def connect(port, context, hostname=SERVER_NAME):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname=hostname)


def exchange(port, context, request):
    tls = connect(port, context)
    try:
        tls.sendall(request)
        reply = tls.recv(64)
        return {"version": tls.version(), "reply": reply.decode(), "then": tls.recv(64).decode()}
    finally:
        tls.close()


def failure(port, context, hostname=SERVER_NAME):
    try:
        connect(port, context, hostname).close()
    except ssl.CertificateError as error:
        return {"type": "CertificateError", "message": str(error)}
    except ssl.SSLError as error:
        return {"type": type(error).__name__, "library": error.library, "reason": error.reason}
    return None


def main(cert, key, other_ca):
    server = Server(cert, key)
    server.start()
    system_store = ssl.create_default_context()  # verification and hostname check on
    tls12 = ssl.create_default_context()
    tls12.options |= ssl.OP_NO_TLSv1_3
    strict_eof = ssl.create_default_context()
    result = {
        "tls13": exchange(server.port, system_store, b"clean"),
        "tls12": exchange(server.port, tls12, b"clean"),
        "ragged": exchange(server.port, system_store, b"ragged"),
        "wrong_name": failure(server.port, system_store, hostname="other.test"),
        "unknown_ca": failure(server.port, ssl.create_default_context(cafile=other_ca)),
    }
    # What a peer's close without close_notify is, when the reader does not take it as EOF.
    tls = strict_eof.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10),
                                 server_hostname=SERVER_NAME, suppress_ragged_eofs=False)
    tls.sendall(b"ragged")
    tls.recv(64)
    try:
        tls.recv(64)
        result["ragged_strict"] = None
    except ssl.SSLError as error:
        result["ragged_strict"] = {"errno": error.args[0], "eof": error.args[0] == ssl.SSL_ERROR_EOF,
                                   "library": error.library, "reason": error.reason}
    tls.close()
    result["server_names"] = server.server_names
    result["has_sni"] = ssl.HAS_SNI
    result["openssl"] = ssl.OPENSSL_VERSION
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
