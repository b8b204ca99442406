"""What the tests stand on, by concern: config (paths, the image under test), docker_client,
waits, run (what pytest-xdist's workers share), standins (loopback upstreams), images (builds)
and containers. tests/conftest.py makes fixtures and hooks of them. tests/env's modules
(loopback, wrk) are importable once the harness is."""
import sys

from harness.config import ENV_DIR

sys.path.insert(0, str(ENV_DIR))
