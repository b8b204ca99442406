#!/usr/bin/env bash
# `make check`: the fast tier, with no Docker engine: lint, the documentation tables and the unit
# tests (tests/unit; `make test` runs them too, and on the image's Python). Installs the test
# tools (.venv) if needed.
# Arguments go to pytest.
set -euo pipefail
# shellcheck source=SCRIPTDIR/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT"

ensure_test_venv
exec .venv/bin/pytest -n 0 -m no_engine "$@"
