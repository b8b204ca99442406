"""CPython 2.7's CVEs, from one source: each fix's patch header (images/python2.7/cve/*.patch)
and, for the CVEs without a patch, images/python2.7/cve/statements.yml. Renders docs/security.md's
table and images/python2.7/openvex.json (OpenVEX 0.2.0); tests/test_python27_cves.py checks that
both are current and that every CVE the project tracks has a row.

    python3 tests/env/python27_cves.py                 # rewrite the table and openvex.json
    python3 tests/env/python27_cves.py openvex --product 'pkg:oci/my-app@sha256:...'
                                                       # the statements for one image, on stdout
"""
import argparse
import json
import re
import sys
import uuid
from pathlib import Path

import yaml

from role_docs import render

REPO = Path(__file__).resolve().parents[2]
CVE_DIR = REPO / "images" / "python2.7" / "cve"
STATEMENTS = CVE_DIR / "statements.yml"
OPENVEX = REPO / "images" / "python2.7" / "openvex.json"
SECURITY_DOC = REPO / "docs" / "security.md"
TABLE_START = "<!-- cves: generated from images/python2.7/cve by tests/env/python27_cves.py -->"
TABLE_END = "<!-- end of cves -->"
# What a scanner reports for a CPython it finds by its binary (Syft's and Grype's classifier).
PYTHON_PURL = "pkg:generic/python@2.7.18"
PYTHON_CPE = "cpe:2.3:a:python:python:2.7.18:*:*:*:*:*:*:*"
# Untestable: why the fix's test cannot fail without it (the build then does not require it to).
HEADER_FIELDS = ("Description", "CVE", "Module", "Impact", "Bug", "Origin", "Test", "Untestable")
REQUIRED_FIELDS = ("Description", "CVE", "Module", "Impact", "Bug", "Origin", "Test")
OPENVEX_JUSTIFICATIONS = (
    "component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist")
CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


def parse_header(path):
    """The patch's header (the lines before `---`) as {field: [values]}; a field's continuation
    lines (starting with a space) join its last value."""
    fields = {}
    last = None
    for line in path.read_text().splitlines():
        if line == "---":
            break
        if line.startswith(" ") and last:
            fields[last][-1] += "\n" + line[1:]
            continue
        name, colon, value = line.partition(":")
        if not colon or name not in HEADER_FIELDS:
            raise ValueError("%s: unexpected header line %r" % (path.name, line))
        fields.setdefault(name, []).append(value.strip())
        last = name
    else:
        raise ValueError("%s: no `---` line ends the header" % path.name)
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise ValueError("%s: header lacks %s" % (path.name, ", ".join(missing)))
    if fields["CVE"] != [path.stem] or not CVE_ID.match(path.stem):
        raise ValueError("%s: its CVE line must name %s" % (path.name, path.stem))
    return fields


def fixes():
    """One dict per CVE patch, in CVE order."""
    rows = []
    for path in sorted(CVE_DIR.glob("*.patch"), key=lambda p: cve_order(p.stem)):
        header = parse_header(path)
        rows.append({
            "cve": path.stem, "module": header["Module"][0], "impact": header["Impact"][0],
            "description": header["Description"][0], "bug": header["Bug"][0],
            "origin": header["Origin"][0], "tests": header["Test"], "patch": path,
            "untestable": header.get("Untestable", [None])[0],
        })
    return rows


def statements_file():
    data = yaml.safe_load(STATEMENTS.read_text())
    for entry in data.get("not_affected", []):
        if entry.get("justification") not in OPENVEX_JUSTIFICATIONS:
            raise ValueError("statements.yml: %s: justification must be one of %s"
                             % (entry.get("cve"), ", ".join(OPENVEX_JUSTIFICATIONS)))
    return data


def cve_order(cve):
    _, year, number = cve.split("-")
    return int(year), int(number)


def all_cves():
    """{cve: (status, entry)} over the patches and statements.yml, in CVE order; a CVE in two
    places is an error."""
    data = statements_file()
    entries = {}
    groups = [("fixed", fixes()), ("not_affected", data.get("not_affected", [])), ("open", data.get("open", []))]
    for status, group in groups:
        for entry in group:
            if not CVE_ID.match(entry["cve"]):
                raise ValueError("not a CVE id: %r" % entry["cve"])
            if entry["cve"] in entries:
                raise ValueError("%s is listed twice" % entry["cve"])
            entries[entry["cve"]] = (status, entry)
    return dict(sorted(entries.items(), key=lambda item: cve_order(item[0]))), data


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def short_test(test_id):
    """test.test_urlparse.UrlParseTestCase.test_x -> `test_urlparse.UrlParseTestCase.test_x`"""
    parts = test_id.split(".")
    return "`%s`" % ".".join(parts[-3:]) if len(parts) >= 3 else "`%s`" % test_id


def table():
    entries, _ = all_cves()
    counts = {"fixed": 0, "not_affected": 0, "open": 0}
    lines = ["| CVE | module | what it allowed | patch | test | status |",
             "| --- | --- | --- | --- | --- | --- |"]
    for cve, (status, entry) in entries.items():
        counts[status] += 1
        why = "([why](#%s))" % cve.lower()
        patch, tests = "—", "—"
        if status == "fixed":
            patch = "[%s](../images/python2.7/cve/%s)" % (entry["patch"].name, entry["patch"].name)
            tests = "<br>".join(short_test(test) for test in entry["tests"])
            state = "fixed; no test can fail without it " + why if entry["untestable"] else "fixed"
        elif status == "not_affected":
            state = "not applicable " + why
        else:
            state = "open " + why
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            cve, cell(entry["module"]), cell(entry["impact"]), patch, tests, state))
    lines.append("")
    lines.append("%d CVEs: %d fixed, %d not applicable to 2.7, %d open."
                 % (len(entries), counts["fixed"], counts["not_affected"], counts["open"]))
    # The reasons the table links to, a section per kind.
    sections = [
        ("Fixed, but no test can fail without the fix", "fixed", "untestable"),
        ("Not applicable to 2.7", "not_affected", "evidence"),
        ("Open", "open", "why"),
    ]
    for title, wanted, field in sections:
        rows = [(cve, entry) for cve, (status, entry) in entries.items() if status == wanted and entry.get(field)]
        if rows:
            lines += ["", "#### %s" % title, ""]
            lines += ['- <a id="%s"></a>**%s** (%s): %s' % (cve.lower(), cve, entry["module"], cell(entry[field]))
                      for cve, entry in rows]
    return "\n".join(lines)


def render_doc(text, generated):
    """docs/security.md's text with the generated table between its markers."""
    return render(text, generated, TABLE_START, TABLE_END)


def openvex(product=None):
    """The OpenVEX document: a statement per CVE, about CPython 2.7.18 as this project builds it
    (or, with product, about that image with CPython as its subcomponent)."""
    entries, data = all_cves()
    document = data["document"]
    python = {"@id": PYTHON_PURL, "identifiers": {"purl": PYTHON_PURL, "cpe23": PYTHON_CPE}}
    products = [dict({"@id": product}, subcomponents=[python])] if product else [python]
    statements = []
    for cve, (status, entry) in entries.items():
        statement = {"vulnerability": {"name": cve}, "products": products}
        if status == "fixed":
            statement["status"] = "fixed"
            summary, _, details = entry["description"].partition("\n")
            statement["status_notes"] = "%s. %s (images/python2.7/cve/%s; upstream: %s)" % (
                summary.rstrip("."), " ".join(details.split()), entry["patch"].name, entry["origin"])
        elif status == "not_affected":
            statement["status"] = "not_affected"
            statement["justification"] = entry["justification"]
            statement["impact_statement"] = " ".join(entry["evidence"].split())
        else:
            statement["status"] = "affected"
            statement["action_statement"] = " ".join(entry["why"].split())
        statements.append(statement)
    identity = "uwsgi-nginx python2.7 %s %s" % (document["version"], product or "")
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "urn:uuid:%s" % uuid.uuid5(uuid.NAMESPACE_URL, identity),
        "author": document["author"],
        "role": "Document Creator",
        "timestamp": document["timestamp"],
        "version": document["version"],
        "tooling": "tests/env/python27_cves.py",
        "statements": statements,
    }


def openvex_text(product=None):
    return json.dumps(openvex(product), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    vex = commands.add_parser("openvex", help="print the OpenVEX document")
    vex.add_argument("--product", help="the image's identifier (a pkg:oci purl, or name@digest)")
    args = parser.parse_args(argv)
    if args.command == "openvex":
        sys.stdout.write(openvex_text(args.product))
        return 0
    SECURITY_DOC.write_text(render_doc(SECURITY_DOC.read_text(), table()))
    OPENVEX.write_text(openvex_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
