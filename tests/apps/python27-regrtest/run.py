"""Run inside the Python 2.7 base's build stage (Python 2): CPython's regression tests named on
the command line, by regrtest, with the tests whose expectations are OpenSSL 1.x's marked as
expected failures (docs/building.md, "Python 2.7 on a supported Debian", says why).

    OPENSSL_CONF=/regrtest/seclevel0.cnf python2 run.py -v test_ssl test_hashlib ...
"""
import importlib
import unittest

from test import regrtest

EXPECTED_FAILURES = [
    "test.test_ssl.BasicSocketTests.test_openssl_version",
    "test.test_ssl.BasicSocketTests.test_parse_all_sans",
    "test.test_ssl.BasicSocketTests.test_parse_cert_CVE_2013_4238",
]

for name in EXPECTED_FAILURES:
    module, cls, method = name.rsplit(".", 2)
    klass = getattr(importlib.import_module(module), cls)
    setattr(klass, method, unittest.expectedFailure(getattr(klass, method).__func__))

regrtest.main()
