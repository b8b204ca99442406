"""What is generated from each role's meta/argument_specs.yml, the one hand-written place of a
role variable's type, default and description: the role's defaults/main.yml and its README's
variables table; and README.md's settings table, from the settings contract. So that none can
drift from what it describes; tests/test_role_docs.py checks each is current.

    python3 tests/env/role_docs.py          # rewrite them
"""
import json
import re
import sys
import textwrap
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
START = "<!-- variables: generated from meta/argument_specs.yml by tests/env/role_docs.py -->"
END = "<!-- end of variables -->"
SETTINGS_START = ("<!-- settings: generated from roles/settings/files/uwsgi_nginx/settings.py"
                  " by tests/env/role_docs.py -->")
SETTINGS_END = "<!-- end of settings -->"


DEFAULTS_HEADER = """---
# Generated from meta/argument_specs.yml, each variable's default and description, by
# tests/env/role_docs.py: edit that file, then run it.
"""
# YAML's plain scalars that read back as something else, or start what YAML reads as syntax.
NOT_PLAIN = re.compile(r"""^$|^[-?:,\[\]{}#&*!|>'"%@`\s]|[\s]$|: | #""")


def description(option):
    """An option's description as one paragraph (a list of them joined)."""
    text = option.get("description", "")
    return " ".join(text) if isinstance(text, list) else text


def scalar(value):
    """A YAML scalar for value: plain when it reads back as itself, else double-quoted."""
    if isinstance(value, str) and not NOT_PLAIN.search(value) and yaml.safe_load("value: " + value) == {
            "value": value}:
        return value
    return json.dumps(value)


def yaml_value(value):
    """A default's value as defaults/main.yml writes it: a scalar, or a list or mapping of
    scalars as a block (an empty one as [] or {})."""
    if isinstance(value, list) and value:
        return "".join("\n  - %s" % scalar(item) for item in value)
    if isinstance(value, dict) and value:
        return "".join("\n  %s: %s" % (scalar(key), scalar(item)) for key, item in value.items())
    return " " + ("[]" if value == [] else "{}" if value == {} else scalar(value))


def defaults_text(role_dir):
    """The role's defaults/main.yml: each variable of argument_specs' main entry point, its
    description as the comment above it."""
    options = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"][
        "options"]
    parts = [DEFAULTS_HEADER]
    for name, option in options.items():
        text = re.sub(r"C\(([^)]*)\)", r"\1", description(option))
        comment = textwrap.fill(text, 99, initial_indent="# ", subsequent_indent="# ", break_long_words=False,
                                break_on_hyphens=False)
        value = yaml_value(option["default"])
        if len(name) + len(value) > 119 and isinstance(option["default"], str):
            value = " >-\n  " + option["default"]  # folded: the same string, on a line of its own
        parts.append("\n%s\n%s:%s\n" % (comment, name, value))
    return "".join(parts)


def cell(text):
    """Markdown table cell text; Ansible's C(code) markup becomes `code`."""
    text = re.sub(r"C\(([^)]*)\)", r"`\1`", str(text))
    return text.replace("|", "\\|").replace("\n", " ").strip()


def default_text(option):
    """The default as a reader needs it."""
    value = option["default"]
    if isinstance(value, str):
        return "`%s`" % value if value else '`""`'
    return "`%s`" % json.dumps(value)


def variables_table(role_dir):
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, option in options.items():
        meaning = description(option)
        if option.get("choices"):
            meaning += " One of: %s." % ", ".join("`%s`" % choice for choice in option["choices"])
        lines.append("| `%s` | %s | %s |" % (name, cell(default_text(option)), cell(meaning)))
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
    values = dict((name, option["default"]) for name, option in role_options().items())
    values.update(yaml.safe_load((REPO / "docker" / "image-vars.yml").read_text()))
    return values


def role_options():
    """{variable: its option} of every role's main entry point."""
    options = {}
    for role_dir in roles():
        options.update(yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"][
            "options"])
    return options


def effect(setting, settings, options):
    """What a setting does, in the environment's words: its role variable's description, each
    variable it names given as the setting's environment variable. A role variable the
    environment cannot set has no place there: ValueError."""
    env_names = dict((each.variable, each.env) for each in settings.SETTINGS)

    def named(match):
        name = match.group(0)
        if name in env_names:
            return "`%s`" % env_names[name]
        raise ValueError("%s's description (the %s setting) names %s, a role variable the environment cannot set"
                         % (setting.variable, setting.env, name))
    text = re.sub(r"C\(([^)]*)\)", r"\1", description(options[setting.variable]))
    return re.sub(r"\b(%s)\b" % "|".join(sorted(options, key=len, reverse=True)), named, text)


def settings_table():
    """README.md's table of the settings a container takes from its environment, from the
    contract (roles/settings/files/uwsgi_nginx/settings.py), the roles' descriptions and the
    image's defaults."""
    sys.path.insert(0, str(REPO / "roles" / "settings" / "files"))
    from uwsgi_nginx import settings

    defaults = image_defaults()
    options = role_options()
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
        lines.append("| `%s` | %s | %s | %s |" % (setting.env, default, cell(accepted),
                                                  cell(effect(setting, settings, options))))
    return "\n".join(lines)


def roles():
    return sorted(path for path in (REPO / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())


def generated():
    """{path: its text as generated}: each role's defaults/main.yml, each README with every
    generated table current."""
    texts = {}
    for role_dir in roles():
        texts[role_dir / "defaults" / "main.yml"] = defaults_text(role_dir)
        readme = role_dir / "README.md"
        texts[readme] = render(readme.read_text(), variables_table(role_dir))
    readme = REPO / "README.md"
    texts[readme] = render(readme.read_text(), settings_table(), SETTINGS_START, SETTINGS_END)
    return texts


def main():
    for path, text in generated().items():
        if text != path.read_text():
            path.write_text(text)
            print("updated", path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
