"""What the tests stand on, by concern: config (paths, the image under test), docker_client,
waits, run (what pytest-xdist's workers share), standins (loopback upstreams), images (builds)
and containers. tests/conftest.py makes fixtures and hooks of them."""
