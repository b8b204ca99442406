"""What tests/env/role_docs.py generates is current: each role's defaults/main.yml and README's
variables table, from its meta/argument_specs.yml (every variable there with a default and a
description, every entry point with the same options); README.md's settings table, the
settings contract's with the image's defaults."""
import sys

import pytest

from harness.config import ENV_DIR

pytestmark = pytest.mark.no_engine

sys.path.insert(0, str(ENV_DIR))
import role_docs  # noqa: E402


@pytest.mark.parametrize("path", sorted(role_docs.generated()), ids=lambda path: str(path.relative_to(role_docs.REPO)))
def test_each_generated_file_is_current(path):
    assert path.read_text() == role_docs.generated()[path], "run: python3 tests/env/role_docs.py"


@pytest.mark.parametrize("role_dir", role_docs.roles(), ids=lambda path: path.name)
def test_every_variable_has_a_default_and_a_description_in_every_entry_point(role_dir):
    import yaml
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = specs["main"]["options"]
    assert [name for name, option in options.items() if "default" not in option or not option.get("description")] \
        == []
    assert [entry for entry, spec in specs.items() if spec["options"] != options] == []
