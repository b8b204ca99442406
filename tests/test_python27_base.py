"""The Python 2.7 base on a supported Debian (the Dockerfile's python2.7 stage, bookworm), built
once in a run by `make python2.7-base`'s script: CPython's own regression tests for what its
patches touch pass on the built interpreter (the modules of every CVE patch's tests too), with
no network; TLS on loopback verifies against the system
store, with SNI, TLS 1.3 and 1.2, and reads a peer's close without close_notify as EOF;
hashlib's OpenSSL digests and C pbkdf2_hmac are there; the image is laid out like the official
one, without CPython's tests. Skips in the regression tests: docs/building.md lists them."""
import hashlib
import json
import re
import subprocess
import time

import pytest

from harness.config import REPO, STATE_DIR
from harness.docker_client import docker
from harness.images import lib_sh
from python27_cves import fixes

TLS_APP = REPO / "tests" / "apps" / "python27-tls"
REGRTEST_APP = REPO / "tests" / "apps" / "python27-regrtest"
# What the patches touch (ssl, _hashlib) and what uses them: HTTPS clients and servers of the
# standard library, hmac, uuid's md5/sha1.
REGRESSION_TESTS = [
    "test_ssl", "test_hashlib", "test_hmac", "test_md5", "test_httplib", "test_urllib2_localnet",
    "test_urllib", "test_socket", "test_ftplib", "test_poplib", "test_imaplib",
    "test_uuid",
    # pyexpat and ctypes on the system's expat and libffi
    "test_pyexpat", "test_sax", "test_minidom", "test_xml_etree", "test_xml_etree_c", "test_ctypes",
]


def regrtest_name(test_id):
    """The regrtest module that runs a unittest id: test.test_x.C.m -> test_x;
    email.test.test_email_renamed.C.m -> test_email_renamed (Lib/test has one by that name);
    ctypes.test.test_x.C.m -> test_ctypes, which runs the whole package."""
    parts = test_id.split(".")
    if parts[0] == "test":
        return parts[1]
    if parts[2] == "test_email_renamed":
        return parts[2]
    return "test_" + parts[0]


# And the modules of every CVE patch's tests, whole.
REGRESSION_TESTS += sorted(set(regrtest_name(test) for fix in fixes() for test in fix["tests"])
                           - set(REGRESSION_TESTS))
# Where every skipped test's reason and every expected failure is explained.
SKIPS_DOC = REPO / "docs" / "building.md"


def run_in(image, *command, volumes=(), check=True):
    """command in a new container of image, without a network, in a directory of its own
    (regrtest writes its files in the working directory and fails a test that leaves one there,
    so not /tmp, where tempfile writes; some tests expect one below /); the CompletedProcess."""
    arguments = ["run", "--rm", "--network", "none", "--workdir", "/tmp/regrtest"]
    for volume in volumes:
        arguments += ["--volume", volume]
    result = docker(*arguments, image, *command, check=False, timeout=1800)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


@pytest.mark.slow(10)
def test_cpython_regression_tests_pass(python27_build_stage, python27_base_build):
    # regrtest enables no resource unless asked (-u): no test that needs the internet, a sound
    # card, a display or much time; the container has no network at all. Under emulation the
    # deadlines of the CVE patches' tests grow as in the build (CVE-2025-6075's expandvars tests,
    # about a second natively, take over 10 s under qemu).
    time_factor = lib_sh("platform_time_factor")
    started = time.monotonic()
    result = run_in(python27_build_stage, "env", "OPENSSL_CONF=/regrtest/seclevel0.cnf",
                    "CVE_TEST_TIME_FACTOR=%s" % time_factor,
                    "python2", "/regrtest/run.py", "-v", *REGRESSION_TESTS,
                    volumes=("%s:/regrtest:ro" % REGRTEST_APP,), check=False)
    seconds = round(time.monotonic() - started)
    log_path = STATE_DIR / "python2.7-regrtest.log"
    log_path.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, "regrtest failed (%s):\n%s" % (log_path, result.stdout[-6000:])
    assert "%d tests OK." % len(REGRESSION_TESTS) in result.stdout, result.stdout[-3000:]

    outcomes = re.findall(r"^(\w+) \(([\w.]+)\)(?: \.\.\. |\n.*\.\.\. )(ok|skipped|expected failure|FAIL|ERROR)(.*)$",
                          result.stdout, re.MULTILINE)
    skip_reasons = set(reason.strip(" '\"") for _, _, outcome, reason in outcomes if outcome == "skipped")
    expected_failures = set(test for test, _, outcome, _ in outcomes if outcome == "expected failure")
    documented = SKIPS_DOC.read_text()
    assert sorted(reason for reason in skip_reasons if reason not in documented) == []
    assert sorted(test for test in expected_failures if test not in documented) == []
    # Counted from each module's summary: a test's "ok" may come after a server thread's output.
    ran = sum(int(count) for count in re.findall(r"^Ran (\d+) tests? in", result.stdout, re.MULTILINE))
    skipped = sum(int(count) for count in re.findall(r"skipped=(\d+)", result.stdout))
    failing = sum(int(count) for count in re.findall(r"expected failures=(\d+)", result.stdout))
    print("CPython regression tests: %d passed, %d skipped, %d expected failures in %d s; the base built in %d s"
          % (ran - skipped - failing, skipped, failing, seconds, python27_base_build[1]))


def test_tls_on_loopback_verifies_and_reads_a_ragged_close_as_eof(python27_base, tmp_path):
    make_ca_and_server_certificate(tmp_path)
    script = ("cp /tls/ca.pem /usr/local/share/ca-certificates/python27-base-test.crt"
              " && update-ca-certificates >/dev/null"
              " && python2 /app/check.py /tls/server.pem /tls/server.key /tls/other-ca.pem")
    result = run_in(python27_base, "sh", "-c", script,
                     volumes=("%s:/tls:ro" % tmp_path, "%s:/app:ro" % TLS_APP))
    outcome = json.loads(result.stdout)
    assert outcome["openssl"].startswith("OpenSSL 3."), outcome["openssl"]

    # Verified against the system store, hostname checked, SNI sent, on TLS 1.3 and 1.2.
    assert outcome["tls13"] == {"version": "TLSv1.3", "reply": "reply to clean", "then": ""}
    assert outcome["tls12"]["version"] == "TLSv1.2"
    assert outcome["has_sni"] and set(outcome["server_names"]) == {"python27-base.test", "other.test"}
    assert outcome["wrong_name"]["type"] == "CertificateError"
    assert outcome["unknown_ca"] == {"type": "SSLError", "library": "SSL", "reason": "CERTIFICATE_VERIFY_FAILED"}

    # A close without close_notify: EOF, as on Python 3; and where the reader asks to see it,
    # SSL_ERROR_EOF named by its OpenSSL 3 reason.
    assert outcome["ragged"] == {"version": "TLSv1.3", "reply": "reply to ragged", "then": ""}
    assert outcome["ragged_strict"] == {"errno": outcome["ragged_strict"]["errno"], "eof": True,
                                        "library": "SSL", "reason": "UNEXPECTED_EOF_WHILE_READING"}


def make_ca_and_server_certificate(directory):
    """A CA, a server certificate it signs for python27-base.test, and another CA."""
    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], cwd=str(directory), check=True, capture_output=True)
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test %s" % name,
                "-keyout", name + ".key", "-out", name + ".pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=python27-base.test",
            "-keyout", "server.key", "-out", "server.csr")
    (directory / "san.cnf").write_text("subjectAltName=DNS:python27-base.test\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.cnf", "-out", "server.pem")
    for path in directory.iterdir():
        path.chmod(0o644)


def test_hashlib_takes_its_digests_from_openssl(python27_base):
    script = (
        "import hashlib, json\n"
        "print(json.dumps({\n"
        "    'digests': dict((name, hashlib.new(name, b'uwsgi-nginx').hexdigest())\n"
        "                    for name in ('sha3_256', 'blake2b', 'sha512_256', 'sha256')),\n"
        "    'pbkdf2': hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1000).encode('hex'),\n"
        "    'pbkdf2_module': hashlib.pbkdf2_hmac.__module__,\n"
        "    'sha256_module': type(hashlib.sha256()).__module__,\n"
        "    'available': sorted(hashlib.algorithms_available),\n"
        "}))\n"
    )
    outcome = json.loads(run_in(python27_base, "python2", "-c", script).stdout)
    for name in ("sha3_256", "blake2b", "sha512_256", "sha256"):
        assert outcome["digests"][name] == hashlib.new(name, b"uwsgi-nginx").hexdigest(), name
        assert name in outcome["available"]
    assert outcome["pbkdf2"] == hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1000).hex()
    assert outcome["pbkdf2_module"] == "_hashlib"
    assert outcome["sha256_module"] == "_hashlib"


def test_the_base_is_laid_out_like_the_official_image(python27_base):
    script = (
        "set -e; for name in python python2 python2.7 pip; do command -v $name; done;"
        " python --version 2>&1; pip --version;"
        " test ! -e /usr/local/lib/python2.7/test && echo no-test-package;"
        " command -v gcc || echo no-compiler;"
        " dpkg-query --show --showformat '${Package}\\n' 'libssl3*'"
    )
    lines = run_in(python27_base, "sh", "-c", script).stdout
    for name in ("python", "python2", "python2.7", "pip"):
        assert "/usr/local/bin/%s\n" % name in lines
    assert "Python 2.7.18" in lines and "(python 2.7)" in lines
    assert "no-test-package" in lines and "no-compiler" in lines
    # The system's OpenSSL, which Debian's security updates reach.
    assert re.search(r"^libssl3(t64)?$", lines, re.MULTILINE), lines
