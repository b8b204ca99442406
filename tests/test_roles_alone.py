"""Each role runs with only the roles it declares: the Molecule scenarios that apply the uwsgi
role alone and the nginx role alone (tests/test_molecule.py runs them) copy that role and its
dependencies (meta/main.yml) into a roles path of their own, nothing else on it
(molecule/shared/roles_alone.py); and a role that uses the settings contract's filters declares
the role that holds them."""
import re
import sys

import pytest
import yaml

from harness.config import REPO

sys.path.insert(0, str(REPO / "molecule" / "shared"))
import roles_alone  # noqa: E402

pytestmark = pytest.mark.no_engine

ROLES = REPO / "roles"
# The Molecule scenario that applies each role alone.
SCENARIO_OF_ROLE = {"uwsgi": "uwsgi", "nginx": "nginx"}


@pytest.mark.parametrize("role", sorted(SCENARIO_OF_ROLE))
def test_the_role_s_scenario_sees_copies_of_the_role_and_its_dependencies_only(role, tmp_path):
    scenario = REPO / "molecule" / SCENARIO_OF_ROLE[role]
    config = yaml.safe_load((scenario / "molecule.yml").read_text())
    assert config["dependency"]["name"] == "shell"
    assert config["dependency"]["command"].split() == [
        "python3", "${MOLECULE_PROJECT_DIRECTORY}/molecule/shared/roles_alone.py", role,
        "${MOLECULE_EPHEMERAL_DIRECTORY}/roles"]
    assert config["provisioner"]["env"]["ANSIBLE_ROLES_PATH"] == "${MOLECULE_EPHEMERAL_DIRECTORY}/roles"
    assert not (scenario / "roles").exists()
    converge = yaml.safe_load((scenario / "converge.yml").read_text())
    assert [entry["role"] for play in converge for entry in play["roles"]] == [role]

    (tmp_path / "roles" / "stale").mkdir(parents=True)
    roles_alone.main(role, tmp_path / "roles")
    laid_out = sorted(path.name for path in (tmp_path / "roles").iterdir())
    assert laid_out == sorted({role, "settings"})
    assert [path for path in (tmp_path / "roles").rglob("*") if path.is_symlink()] == []


@pytest.mark.parametrize("role", sorted(path.name for path in ROLES.iterdir() if path.name != "settings"))
def test_a_role_that_uses_the_contract_s_filters_declares_the_role_that_holds_them(role):
    uses = [path.relative_to(ROLES) for path in (ROLES / role).rglob("*")
            if path.is_file() and path.suffix in (".yml", ".j2") and re.search(r"\buwsgi_nginx_\w+", path.read_text())]
    if uses:
        assert "settings" in roles_alone.with_dependencies(role), "%s use the uwsgi_nginx_* filters" % ", ".join(
            map(str, uses))
