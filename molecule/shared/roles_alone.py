"""Lays out a role and the roles it declares (meta/main.yml's dependencies, and theirs) as
copies in a directory of their own, for a scenario that applies the role alone: Ansible finds
a dependency beside the role that declares it, after following a symbolic link, so links would
let it reach every role in the checkout.

    python3 roles_alone.py ROLE DIRECTORY      # DIRECTORY is emptied first
"""
import shutil
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


def with_dependencies(role):
    """role and the roles it declares, and theirs."""
    meta = yaml.safe_load((ROLES / role / "meta" / "main.yml").read_text()) or {}
    found = {role}
    for entry in meta.get("dependencies") or []:
        found |= with_dependencies(entry["role"] if isinstance(entry, dict) else entry)
    return found


def main(role, directory):
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    for name in sorted(with_dependencies(role)):
        shutil.copytree(ROLES / name, directory / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
