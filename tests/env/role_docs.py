"""The variables table of each role's README, generated from its meta/argument_specs.yml, and
README.md's settings table, generated from the settings contract, so that neither can drift
from what it describes. tests/test_role_docs.py checks every README is current.

    python3 tests/env/role_docs.py          # rewrite the tables
"""
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
START = "<!-- variables: generated from meta/argument_specs.yml by tests/env/role_docs.py -->"
END = "<!-- end of variables -->"
SETTINGS_START = ("<!-- settings: generated from roles/entrypoint/files/uwsgi_nginx/settings.py"
                  " by tests/env/role_docs.py -->")
SETTINGS_END = "<!-- end of settings -->"


def cell(text):
    """Markdown table cell text; Ansible's C(code) markup becomes `code`."""
    text = re.sub(r"C\(([^)]*)\)", r"`\1`", str(text))
    return text.replace("|", "\\|").replace("\n", " ").strip()


def default_text(option, role_defaults, name):
    """The default as a reader needs it: the spec's, else what defaults/main.yml says."""
    value = option["default"] if "default" in option else role_defaults.get(name, "")
    if isinstance(value, str):
        return "`%s`" % value if value else '`""`'
    return "`%s`" % json.dumps(value)


def variables_table(role_dir):
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}
    options = specs["argument_specs"]["main"]["options"]
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, option in options.items():
        meaning = option.get("description", "")
        if isinstance(meaning, list):
            meaning = " ".join(meaning)
        if option.get("choices"):
            meaning += " One of: %s." % ", ".join("`%s`" % choice for choice in option["choices"])
        lines.append("| `%s` | %s | %s |" % (name, cell(default_text(option, defaults, name)), cell(meaning)))
    return "\n".join(lines)


def render(readme_text, table, start_marker=START, end_marker=END):
    """readme_text with the text between the markers replaced by table."""
    before, start, rest = readme_text.partition(start_marker)
    if not start:
        raise ValueError("no %r marker" % start_marker)
    _, end, after = rest.partition(end_marker)
    if not end:
        raise ValueError("no %r marker" % end_marker)
    return before + start_marker + "\n" + table + "\n" + end_marker + after


def image_defaults():
    """The role variables an image is built with: the roles' defaults, docker/image-vars.yml's over them."""
    values = {}
    for role_dir in roles():
        values.update(yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {})
    values.update(yaml.safe_load((REPO / "docker" / "image-vars.yml").read_text()))
    return values


def settings_table():
    """README.md's table of the settings a container takes from its environment, from the
    contract (roles/entrypoint/files/uwsgi_nginx/settings.py) and the image's defaults."""
    sys.path.insert(0, str(REPO / "roles" / "entrypoint" / "files"))
    from uwsgi_nginx import settings

    defaults = image_defaults()
    lines = ["| variable | default | accepted | effect |", "| --- | --- | --- | --- |"]
    for setting in settings.SETTINGS:
        value = defaults[setting.variable]
        if isinstance(value, str) and "{{" in value and setting.follows:
            # A default derived from the setting it follows, as the contract derives it.
            source, how = setting.follows[0]
            value = how(defaults[source]) if how else defaults[source]
        if value == "":
            default = "none"
        else:
            default = "`%s`" % (json.dumps(value) if isinstance(value, bool) else value)
            if setting.kind in settings.PATH_KINDS:
                default += " (when it exists)"
        accepted = settings.accepts(setting, lambda limit: "`%s`" % limit.env)
        if setting.kind in settings.PATH_KINDS:
            accepted += "; given, it must exist"
        lines.append("| `%s` | %s | %s | %s |" % (setting.env, default, cell(accepted), cell(setting.meaning)))
    return "\n".join(lines)


def roles():
    return sorted(path for path in (REPO / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())


def generated():
    """{README path: its text with every generated table current}."""
    texts = {}
    for role_dir in roles():
        readme = role_dir / "README.md"
        texts[readme] = render(readme.read_text(), variables_table(role_dir))
    readme = REPO / "README.md"
    texts[readme] = render(readme.read_text(), settings_table(), SETTINGS_START, SETTINGS_END)
    return texts


def main():
    for readme, text in generated().items():
        if text != readme.read_text():
            readme.write_text(text)
            print("updated", readme.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
