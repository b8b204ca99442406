#!/usr/bin/env bash
# `make check`: the fast tier, with no Docker engine: lint and the role documentation (the
# tests `make test` runs too that need no engine). Installs the test tools (.venv) if needed.
# Arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT"

ensure_test_venv
exec .venv/bin/pytest -n 0 -m no_engine "$@"
