"""The variables table of each role's README, generated from its meta/argument_specs.yml so
the two cannot drift apart. tests/test_role_docs.py checks every README is current.

    python3 tests/env/role_docs.py          # rewrite the tables in roles/*/README.md
"""
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
START = "<!-- variables: generated from meta/argument_specs.yml by tests/env/role_docs.py -->"
END = "<!-- end of variables -->"


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


def render(readme_text, table):
    """readme_text with the text between the markers replaced by table."""
    before, start, rest = readme_text.partition(START)
    if not start:
        raise ValueError("no %r marker" % START)
    _, end, after = rest.partition(END)
    if not end:
        raise ValueError("no %r marker" % END)
    return before + START + "\n" + table + "\n" + END + after


def roles():
    return sorted(path for path in (REPO / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())


def main():
    for role_dir in roles():
        readme = role_dir / "README.md"
        updated = render(readme.read_text(), variables_table(role_dir))
        if updated != readme.read_text():
            readme.write_text(updated)
            print("updated", readme.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
