"""TLS in the container (issue 29): NGINX_TLS_CERTIFICATE and NGINX_TLS_CERTIFICATE_KEY make
nginx also listen with TLS on NGINX_TLS_PORT, HTTP/2, TLS 1.2 and 1.3 only; a bad pair stops
the start naming the variable; `docker kill -s HUP` loads a renewed certificate under load
without a failed request. In one container and with nginx alone in front of uWSGI alone, as
root and as another user, on the default Python and 3.14 (the syntax of HTTP/2 differs between
their nginx versions: 1.22 on bookworm, 1.25.1 and later on the 3.14 image's Debian).

The certificates are made here with openssl: a root CA the clients trust, an intermediate CA,
and server certificates for 127.0.0.1 and localhost whose file holds the chain (server, then
intermediate), each with a serial of its own."""
import http.client
import json
import os
import shutil
import ssl
import subprocess

import pytest

from harness.docker_client import docker
from harness.requesters import Requesters
from harness.waits import wait_for
from test_runtime import FAST_HEALTH, app_dir, env, mount

TLS_DIR = "/etc/uwsgi-nginx/tls"
FIRST_SERIAL, RENEWED_SERIAL = "1001", "1002"
NON_ROOT = ["--user", "10001", "--tmpfs", "/run:uid=10001"]
LOAD_THREADS = 4
UWSGI_PORT = 3031


def openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=str(cwd), check=True, capture_output=True, timeout=60)


class Certificates:
    """The test's CA and certificates, in a directory (self.dir) mounted at TLS_DIR: cert.pem
    and key.pem, the pair the container is given; other.key, a key of no certificate there."""

    def __init__(self, directory):
        self.dir = directory
        self.keys = directory.parent / (directory.name + "-keys")
        self.keys.mkdir()
        directory.mkdir()
        directory.chmod(0o755)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=uwsgi-nginx test root CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", "root.key", "-out", "root.pem", cwd=self.keys)
        (self.keys / "ca.ext").write_text("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                                          "keyUsage=critical,keyCertSign,cRLSign\n")
        self.sign("intermediate", "uwsgi-nginx test intermediate CA", "root", "ca.ext", "100")
        (self.keys / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                              "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        for serial in (FIRST_SERIAL, RENEWED_SERIAL, "2001"):
            self.sign("server-" + serial, "localhost", "intermediate", "server.ext", serial)
        self.ca = self.keys / "root.pem"
        self.install(FIRST_SERIAL)
        shutil.copy(str(self.keys / "server-2001.key"), str(directory / "other.key"))
        for path in directory.iterdir():
            path.chmod(0o644)

    def sign(self, name, common_name, issuer, extensions, serial):
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/CN=" + common_name, "-keyout", name + ".key", "-out", name + ".csr", cwd=self.keys)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem", "-CAkey", issuer + ".key",
                "-set_serial", "0x" + serial, "-days", "2", "-extfile", extensions, "-out", name + ".pem",
                cwd=self.keys)

    def install(self, serial, key=True, same_mtime=False):
        """The server certificate of that serial, with the chain, and its key (unless not key),
        written over cert.pem and key.pem in place (as a renewal into a mounted directory does).
        same_mtime: the files keep the modification time they had, as a renewal written within
        the same second as the pair before it does (nginx from 1.27.4 keeps a certificate whose
        file's inode and mtime, in seconds, are unchanged across a reload, unless told not to)."""
        files = {self.dir / "cert.pem": (self.keys / ("server-%s.pem" % serial)).read_bytes()
                 + (self.keys / "intermediate.pem").read_bytes()}
        if key:
            files[self.dir / "key.pem"] = (self.keys / ("server-%s.key" % serial)).read_bytes()
        for path, content in files.items():
            before = path.stat() if same_mtime else None
            path.write_bytes(content)
            if before:
                os.utime(str(path), ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture
def certs(tmp_path):
    return Certificates(tmp_path / "tls")


def tls_args(certs, **variables):
    """docker run arguments: the certificates mounted, the pair given, the other variables."""
    return ["--volume", "%s:%s:ro" % (certs.dir, TLS_DIR), "--publish", "127.0.0.1::%d" % variables.pop("port", 443),
            *env(NGINX_TLS_CERTIFICATE=TLS_DIR + "/cert.pem", NGINX_TLS_CERTIFICATE_KEY=TLS_DIR + "/key.pem",
                 **variables)]


def client_context(certs):
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def https_get(port, context, path="/"):
    """GET over a new TLS connection to 127.0.0.1: (status, body, the certificate's serial)."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.connect()
        serial = connection.sock.getpeercert()["serialNumber"]
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8"), serial
    finally:
        connection.close()


def served_serial(port, context):
    try:
        return https_get(port, context)[2]
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return None


def curl_http2(port, certs, path):
    """curl over HTTP/2, the certificate verified against the test's root CA: (HTTP version, body)."""
    result = subprocess.run(["curl", "--silent", "--show-error", "--http2", "--cacert", str(certs.ca),
                             "--write-out", "\n%{http_version}", "https://127.0.0.1:%d%s" % (port, path)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    body, version = result.stdout.rsplit("\n", 1)
    return version, body


def handshake(port, *options):
    """openssl s_client's handshake with the options: (succeeded, its output)."""
    result = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, *options],
                            input="", capture_output=True, text=True, timeout=20)
    return result.returncode == 0 and "Cipher is (NONE)" not in result.stdout, result.stdout + result.stderr


def serves_https_over_http2(container, certs, tls_port):
    """HTTP/2 with the chain verified, the app seeing https; TLS 1.2 and 1.3 only, AEAD ciphers;
    sessions resumed; no warning from nginx."""
    port = container.port_of(tls_port)
    version, body = curl_http2(port, certs, "/wsgi")
    assert version == "2"
    variables = json.loads(body)
    assert variables["wsgi.url_scheme"] == "https" and variables["HTTPS"] == "on"
    for protocol in ("-tls1_2", "-tls1_3"):
        accepted, output = handshake(port, protocol)
        assert accepted, output
    # OpenSSL 3 on both ends refuses TLS 1.1 and 1.0 below security level 0 whatever
    # ssl_protocols says: the client lowers its own, so the refusal is the server's.
    for protocol in ("-tls1_1", "-tls1"):
        accepted, output = handshake(port, protocol, "-cipher", "DEFAULT:@SECLEVEL=0")
        assert not accepted, output
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in container.exec("nginx", "-T").stdout
    # A TLS 1.2 cipher without forward secrecy or AEAD (one HTTP/2 forbids) is refused.
    accepted, output = handshake(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
    assert not accepted, output
    # A session resumed from the shared cache (whichever worker takes the new connection).
    session = certs.keys / "session.pem"
    accepted, output = handshake(port, "-tls1_2", "-sess_out", str(session))
    assert accepted, output
    accepted, output = handshake(port, "-tls1_2", "-sess_in", str(session))
    assert accepted and "Reused, TLSv1.2" in output, output
    checked = container.exec("nginx", "-t")
    assert "[warn]" not in checked.stderr + container.logs(), checked.stderr + container.logs()


class Load(Requesters):
    """Threads making HTTPS requests, each on a new connection, until stopped (or a deadline):
    every answer counted, with the serial of the certificate it came with."""

    def __init__(self, port, context, seconds=90):
        self.port, self.context, self.serials = port, context, set()
        super().__init__(self.get, LOAD_THREADS, seconds)

    def get(self):
        try:
            status, body, serial = https_get(self.port, self.context)
        except (OSError, ssl.SSLError, http.client.HTTPException) as error:
            return repr(error)
        self.serials.add(serial)
        return None if (status, body) == (200, "probe app") else (status, body[:200])


def renews_under_load(container, certs, tls_port):
    """A renewed pair written over the files (their mtime kept), then SIGHUP, under load: no request fails, and
    new connections get the renewed certificate."""
    port, context = container.port_of(tls_port), client_context(certs)
    assert served_serial(port, context) == FIRST_SERIAL
    with Load(port, context) as load:
        wait_for(lambda: load.answered >= 100, 30, message="100 answers before the renewal")
        certs.install(RENEWED_SERIAL, same_mtime=True)
        docker("kill", "--signal", "HUP", container.name)
        try:
            wait_for(lambda: served_serial(port, context) == RENEWED_SERIAL, 30, message="the renewed certificate")
        except AssertionError as error:
            # What the HUP did (supervisorctl's answer, nginx's reconfiguring), for the cause.
            raise AssertionError("%s; the container's log ends with:\n%s" % (error, container.logs()[-4000:]))
        renewed_at = load.answered
        wait_for(lambda: load.answered >= renewed_at + 100, 30, message="100 answers after the renewal")
    print("\n%s: %d HTTPS requests on %d threads through the renewal, %d failed"
          % (container.name, load.answered, LOAD_THREADS, len(load.failed)))
    assert load.failed == []
    assert load.serials == {FIRST_SERIAL, RENEWED_SERIAL}
    assert container.running()


def test_https_over_http2_beside_plain_http(image_per_python, start_container, certs, tmp_path):
    container = start_container(image_per_python, *FAST_HEALTH, *mount(app_dir(tmp_path)), *tls_args(certs))
    container.wait_until_serving()
    serves_https_over_http2(container, certs, 443)
    # Plain HTTP on LISTEN_PORT as before, no redirect.
    status, _, body = container.get("/wsgi")
    assert status == 200 and json.loads(body)["wsgi.url_scheme"] == "http"
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")


def test_the_app_sees_https_alike_over_the_kept_connection(image_per_python, start_container, certs, tmp_path):
    """NGINX_UWSGI_KEEPALIVE=on passes HTTPS, the scheme and the port as the uwsgi protocol does."""
    app = app_dir(tmp_path)
    over_uwsgi = start_container(image_per_python, *mount(app), *tls_args(certs))
    kept = start_container(image_per_python, *mount(app), *tls_args(certs, NGINX_UWSGI_KEEPALIVE="on"))
    seen = []
    for container in (over_uwsgi, kept):
        container.wait_until_serving()
        status, body, _ = https_get(container.port_of(443), client_context(certs), "/wsgi?over=tls")
        assert status == 200, body
        variables = json.loads(body)
        # Each container's own: the client's port, the published port in Host, the request's id
        # and the host name (uwsgi.node).
        for name in ("REMOTE_PORT", "HTTP_HOST", "HTTP_X_REQUEST_ID"):
            assert variables.pop(name)
        variables.pop("uwsgi.node", None)
        seen.append(variables)
    # The client's Connection: close, a hop-by-hop header, is nginx's to follow over HTTP.
    assert seen[0].pop("HTTP_CONNECTION") == "close"
    assert seen[1] == seen[0]
    assert (seen[1]["HTTPS"], seen[1]["wsgi.url_scheme"], seen[1]["SERVER_PORT"]) == ("on", "https", "443")


@pytest.mark.exclusive
def test_a_hup_loads_a_renewed_certificate_without_failing_a_request(image_per_python, start_container, certs,
                                                                     tmp_path):
    container = start_container(image_per_python, *mount(app_dir(tmp_path)), *tls_args(certs))
    container.wait_until_serving()
    renews_under_load(container, certs, 443)


def test_a_renewal_whose_files_do_not_fit_leaves_the_old_certificate_served(image_per_python, start_container, certs,
                                                                            tmp_path):
    container = start_container(image_per_python, *mount(app_dir(tmp_path)), *tls_args(certs))
    container.wait_until_serving()
    port, context = container.port_of(443), client_context(certs)
    certs.install(RENEWED_SERIAL, key=False)
    checked = container.exec("nginx", "-t", check=False)
    assert checked.returncode != 0 and "key values mismatch" in checked.stderr, checked.stderr
    docker("kill", "--signal", "HUP", container.name)
    wait_for(lambda: "[emerg]" in container.logs(), 15, message="nginx's refusal of the new files in its log")
    assert served_serial(port, context) == FIRST_SERIAL
    assert https_get(port, context)[:2] == (200, "probe app")


def test_a_user_other_than_root_serves_https_on_8443(image_per_python, start_container, certs, tmp_path):
    container = start_container(image_per_python, *NON_ROOT, *mount(app_dir(tmp_path)),
                                *tls_args(certs, port=8443, LISTEN_PORT=8080, NGINX_TLS_PORT=8443), port=8080)
    container.wait_until_serving()
    serves_https_over_http2(container, certs, 8443)


@pytest.mark.exclusive
def test_nginx_alone_serves_tls_in_front_of_uwsgi_alone(image_per_python, docker_network, start_container, certs,
                                                        tmp_path):
    start_container(image_per_python, "--network", docker_network, "--network-alias", "uwsgi",
                    *mount(app_dir(tmp_path)), *env(UWSGI_SOCKET=":%d" % UWSGI_PORT), command=["run-uwsgi"],
                    port=UWSGI_PORT)
    nginx = start_container(image_per_python, "--network", docker_network,
                            *tls_args(certs, NGINX_UWSGI_SOCKET="uwsgi:%d" % UWSGI_PORT), command=["run-nginx"])
    nginx.wait_until_serving()
    serves_https_over_http2(nginx, certs, 443)
    # run-nginx passes the HUP on to nginx.
    renews_under_load(nginx, certs, 443)


CERTIFICATE, KEY = "NGINX_TLS_CERTIFICATE", "NGINX_TLS_CERTIFICATE_KEY"
PAIR = {CERTIFICATE: "cert.pem", KEY: "key.pem"}
# case: (docker run arguments, the pair's files in TLS_DIR, the one line the start prints)
BAD = {
    "a missing certificate": ([], dict(PAIR, **{CERTIFICATE: "missing.pem"}),
                              'NGINX_TLS_CERTIFICATE="%s/missing.pem": expected an existing file' % TLS_DIR),
    "a certificate without its key": ([], {CERTIFICATE: "cert.pem"},
                                      "NGINX_TLS_CERTIFICATE_KEY: not given, and NGINX_TLS_CERTIFICATE needs it"),
    "a key without its certificate": ([], {KEY: "key.pem"},
                                      "NGINX_TLS_CERTIFICATE: not given, and NGINX_TLS_CERTIFICATE_KEY needs it"),
    "a key for another certificate": ([], dict(PAIR, **{KEY: "other.key"}),
                                      'NGINX_TLS_CERTIFICATE_KEY="%s/other.key": does not match NGINX_TLS_CERTIFICATE'
                                      % TLS_DIR),
    "a key given as the certificate": ([], dict(PAIR, **{CERTIFICATE: "key.pem"}),
                                       'NGINX_TLS_CERTIFICATE="%s/key.pem": not a PEM certificate '
                                       "(no certificate or crl found)" % TLS_DIR),
    "a key the user cannot read": (NON_ROOT + ["--env", "LISTEN_PORT=8080"], dict(PAIR, **{KEY: "secret.key"}),
                                   'NGINX_TLS_CERTIFICATE_KEY="%s/secret.key": cannot be read (Permission denied)'
                                   % TLS_DIR),
    "the plain HTTP port": (["--env", "NGINX_TLS_PORT=80"], PAIR,
                            'NGINX_TLS_PORT="80": expected a port other than LISTEN_PORT\'s (80)'),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_tls_setting_stops_the_start_naming_the_variable(image_per_python, start_container, certs, case):
    run_args, variables, line = BAD[case]
    secret = certs.dir / "secret.key"
    shutil.copy(str(certs.dir / "key.pem"), str(secret))
    secret.chmod(0o600)
    container = start_container(image_per_python, "--volume", "%s:%s:ro" % (certs.dir, TLS_DIR), *run_args,
                                *env(**dict((name, "%s/%s" % (TLS_DIR, path)) for name, path in variables.items())))
    assert container.wait_exit(timeout=30) == 1
    # That line alone: nothing started.
    assert container.logs().splitlines() == ["uwsgi-nginx-entrypoint: " + line]
