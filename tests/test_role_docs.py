"""Each role's README lists its variables exactly as its meta/argument_specs.yml does; README.md's
settings table is the settings contract's, with the image's defaults."""
import sys

import pytest

from conftest import ENV_DIR

pytestmark = pytest.mark.no_engine

sys.path.insert(0, str(ENV_DIR))
import role_docs  # noqa: E402


@pytest.mark.parametrize("role_dir", role_docs.roles(), ids=lambda path: path.name)
def test_readme_variables_match_argument_specs(role_dir):
    readme = (role_dir / "README.md").read_text()
    expected = role_docs.render(readme, role_docs.variables_table(role_dir))
    assert readme == expected, "run: python3 tests/env/role_docs.py"


@pytest.mark.parametrize("role_dir", role_docs.roles(), ids=lambda path: path.name)
def test_every_default_is_described_in_argument_specs(role_dir):
    import yaml
    defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    described = set(specs["argument_specs"]["main"]["options"])
    assert set(defaults) <= described, sorted(set(defaults) - described)


def test_readme_settings_table_is_the_contracts():
    readme = role_docs.REPO / "README.md"
    assert readme.read_text() == role_docs.generated()[readme], "run: python3 tests/env/role_docs.py"
