"""What a test run is configured with: the repository's paths, the state directory, the Python
image under test, the Debian suites of the Molecule platforms and the nginx.org stand-in, the
label of what a run makes."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / "tests" / "env"
UNIT_DIR = REPO / "tests" / "unit"
STATE_DIR = Path(os.environ.get("UWSGI_NGINX_STATE_DIR", "/var/tmp/uwsgi-nginx-test"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The base image of the `image` fixture, which the image suites test (README, "Python versions"):
# PYTHON_IMAGE=python:3.11-slim make test PYTEST_ARGS="tests/test_image.py tests/test_runtime.py ..."
# By default the Dockerfile's own: its python2.7 stage, CPython 2.7.18 with its CVE fixes.
PYTHON27_STAGE = "python2.7"
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", PYTHON27_STAGE)
# Suites that check what differs between Pythons (uWSGI's threads and forks, the production
# settings, TLS) run on the default Python and on 3.14 in `make test` (the image_per_python
# fixture); each Python alone in the matrix's runs.
PYTHON_314 = "python:3.14-slim"
PYTHONS_DEFAULT_AND_314 = [PYTHON_IMAGE] + ([PYTHON_314] if PYTHON_IMAGE == PYTHON27_STAGE else [])
# The Debian suites the Molecule platforms run (uwsgi-nginx-molecule:<suite>); the nginx.org
# stand-in has a package for each, and for forky, the suite of the Python 3.14 and 3.15
# stand-ins (tests/images/python3-debian).
MOLECULE_SUITES = ["bullseye", "bookworm", "trixie"]
NGINX_REPO_SUITES = MOLECULE_SUITES + ["forky"]
# Every container and image a run makes carries it, so that the run removes what it left.
RUN_LABEL = "io.uwsgi-nginx.test-run"
