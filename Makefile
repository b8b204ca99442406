# One entry point for building, running and testing the image. See README.md.
.PHONY: run test check test-matrix test-repeat bench python2.7-base

# Build the image with its defaults and run it on http://127.0.0.1:$(PORT)/ (default 8080).
run:
	tests/env/build-and-run.sh

# The image's default Python alone: CPython 2.7.18 with its CVE fixes on Debian bookworm, as
# uwsgi-nginx-python:2.7-bookworm (SUITE=trixie: on trixie, as :2.7-trixie); docs/building.md,
# "Python 2.7, the default".
python2.7-base:
	tests/env/build-python2.7-base.sh

# The whole test suite: image tests and Molecule scenarios (arguments: PYTEST_ARGS=...).
# The role scenarios run on bullseye only; the host scenario on bullseye, bookworm and trixie.
test:
	tests/run.sh $(PYTEST_ARGS)

# The fast tier, no Docker engine needed: lint, role docs and unit tests (arguments: PYTEST_ARGS=...).
check:
	tests/check.sh $(PYTEST_ARGS)

# The tests that touch Swarm, Compose, load and timing, RUNS times in a row (default 10), each
# run as `make test` runs them; a summary of every run in results/ (arguments: PYTEST_ARGS=...,
# files in place of tests/test_swarm.py tests/test_compose.py tests/test_load.py
# tests/test_hostile.py). tests/repeat.sh.
test-repeat:
	tests/repeat.sh $(PYTEST_ARGS)

# Under load: ours / reference / limit / uWSGI over TCP / split, size, start, rebuild and memory
# (arguments: BENCH_ARGS=...).
bench:
	tests/bench/run.sh $(BENCH_ARGS)

# What `make test` has no time for: every Molecule scenario on every Debian suite, then the image
# suites on every supported Python, one run each (MATRIX_PYTHON_IMAGES: the default 2.7, the
# official 2.7, the 2.7 base on trixie, 3.11, 3.13, 3.14; MATRIX_TRY_PYTHON_IMAGES: 3.15, reported, not failing the matrix;
# MATRIX_MOLECULE=no skips Molecule), then the 2.7 base and two image suites on arm64 under qemu
# (MATRIX_PLATFORMS; an hour and a half, 45 minutes more for its bases from nothing: docs/testing.md).
# tests/matrix.sh (arguments: PYTEST_ARGS=...).
test-matrix:
	tests/matrix.sh $(PYTEST_ARGS)
