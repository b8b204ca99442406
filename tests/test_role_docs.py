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


def test_a_setting_is_described_in_the_environment_s_words_and_never_by_a_variable_it_cannot_set():
    sys.path.insert(0, str(role_docs.REPO / "roles" / "settings" / "files"))
    from uwsgi_nginx import settings
    options = role_docs.role_options()
    harakiri = settings.BY_VARIABLE["uwsgi_harakiri"]
    assert "`NGINX_UWSGI_READ_TIMEOUT`" in role_docs.effect(harakiri, settings, options)
    assert "nginx_uwsgi_read_timeout" not in role_docs.effect(harakiri, settings, options)
    options["uwsgi_harakiri"] = dict(options["uwsgi_harakiri"], description="Above C(uwsgi_listen), never.")
    with pytest.raises(ValueError, match="uwsgi_harakiri's description .* names uwsgi_listen"):
        role_docs.effect(harakiri, settings, options)


def test_every_setting_is_a_role_variable_with_a_description():
    sys.path.insert(0, str(role_docs.REPO / "roles" / "settings" / "files"))
    from uwsgi_nginx import settings
    options = role_docs.role_options()
    assert [setting.env for setting in settings.SETTINGS if not options.get(setting.variable, {}).get("description")] \
        == []
