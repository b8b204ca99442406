"""The project's Markdown as a reader meets it: every commit it cites is in the history, and
every table's rows have as many cells as its header, none of which is empty, and none ends
short (an empty last cell). The release: the version in the VERSION file, the Dockerfile's
default for the image's version label, and CHANGELOG.md in Keep a Changelog's form, its newest
release that version."""
import datetime
import re
import subprocess

import pytest

from harness.config import REPO

pytestmark = pytest.mark.no_engine

# An abbreviated or full commit id: lower-case hex with a digit and a letter (not a number, not a word).
COMMIT = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
# A cell boundary: a | not escaped.
CELL_BOUNDARY = re.compile(r"(?<!\\)\|")


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


def markdown_files():
    return [REPO / path for path in git("ls-files", "*.md").stdout.split()]


def cells(row):
    return [cell.strip() for cell in CELL_BOUNDARY.split(row.strip().strip("|"))]


def tables(text):
    """[(line number of the header, [rows])] of the text's tables: runs of lines starting with |."""
    found, rows, start = [], [], None
    for number, line in enumerate(text.splitlines() + [""], start=1):
        if line.startswith("|"):
            if not rows:
                start = number
            rows.append(line)
        elif rows:
            found.append((start, rows))
            rows = []
    return found


def test_every_cited_commit_is_in_the_history():
    if git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("a shallow clone has not the whole history")
    missing = []
    for path in markdown_files():
        for commit in sorted(set(COMMIT.findall(path.read_text()))):
            if git("cat-file", "-e", commit + "^{commit}").returncode != 0:
                missing.append("%s: %s" % (path.relative_to(REPO), commit))
    assert missing == []


def test_every_table_row_has_its_headers_cells():
    wrong = []
    for path in markdown_files():
        for start, rows in tables(path.read_text()):
            header = cells(rows[0])
            if "" in header:
                wrong.append("%s:%d: an empty header cell" % (path.relative_to(REPO), start))
            for offset, row in enumerate(rows[1:], start=1):
                where = "%s:%d:" % (path.relative_to(REPO), start + offset)
                if len(cells(row)) != len(header):
                    wrong.append("%s %d cells under %d headers" % (where, len(cells(row)), len(header)))
                elif cells(row)[-1] == "":
                    wrong.append("%s its last cell empty" % where)
    assert wrong == []


# --- the release: its version in one place (VERSION), the CHANGELOG in Keep a Changelog's form ---

VERSION = (REPO / "VERSION").read_text().strip()
# A release's heading, and the kinds of change Keep a Changelog 1.1.0 sorts them into.
RELEASE_HEADING = re.compile(r"## \[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})$")
CHANGE_KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def changelog_releases():
    """[(heading, [its ### headings])] of CHANGELOG.md, in order."""
    releases = []
    for line in (REPO / "CHANGELOG.md").read_text().splitlines():
        if line.startswith("## "):
            releases.append((line, []))
        elif line.startswith("### "):
            assert releases, "%r before any release" % line
            releases[-1][1].append(line[4:])
    return releases


def test_the_version_is_semantic_and_the_dockerfiles_default():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^ARG IMAGE_VERSION=(.*)$", dockerfile, re.M) == [VERSION]


def test_the_changelog_is_in_keep_a_changelog_form_its_newest_release_the_version():
    releases = changelog_releases()
    assert releases[0][0] == "## [Unreleased]", releases[0]
    headings = [RELEASE_HEADING.fullmatch(heading) for heading, _ in releases[1:]]
    assert headings and all(headings), [heading for heading, _ in releases[1:]]
    assert "%s.%s.%s" % headings[0].groups()[:3] == VERSION
    # Newest first: versions and dates going down, each date a real one.
    versions = [tuple(map(int, match.groups()[:3])) for match in headings]
    dates = [datetime.date.fromisoformat(match.group(4)) for match in headings]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions), versions
    assert dates == sorted(dates, reverse=True), dates
    for heading, kinds in releases:
        assert set(kinds) <= CHANGE_KINDS and len(set(kinds)) == len(kinds), (heading, kinds)
    assert all(kinds for _, kinds in releases[1:]), "a release that says nothing changed"
