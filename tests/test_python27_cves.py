"""CPython 2.7's CVE fixes (images/python2.7/cve, docs/security.md): every CVE of the 2.7.18
advisories has a row, fixed, not applicable or open; the table and the OpenVEX document are the
patches'; each fix's tests fail on CPython 2.7.18 as released (its tests applied without the
fixes) where the image's build has them pass; and the default image answers the issue's
reproducers as a fixed Python does."""
import json
import re
import shutil
import sys
import textwrap

import pytest

from harness.config import ENV_DIR, PYTHON27_STAGE, REPO, STATE_DIR
from harness.docker_client import docker
from harness.images import base_image, build_python27_base, docker_build_context, python27_source_url

sys.path.insert(0, str(ENV_DIR))
import python27_cves  # noqa: E402

# The union of Debian LTS's, Ubuntu ESM's and ActiveState's advisories for python2.7 2.7.18.
ADVISORIES = """
    CVE-2015-20107 CVE-2019-20907 CVE-2020-8492 CVE-2020-26116 CVE-2021-3177 CVE-2021-3733
    CVE-2021-3737 CVE-2021-4189 CVE-2021-23336 CVE-2022-0391 CVE-2022-45061 CVE-2022-48560
    CVE-2022-48565 CVE-2022-48566 CVE-2023-24329 CVE-2023-27043 CVE-2023-40217 CVE-2024-0450
    CVE-2024-6232 CVE-2024-6923 CVE-2024-7592 CVE-2024-8088 CVE-2024-11168 CVE-2025-0938
    CVE-2025-6069 CVE-2025-6075 CVE-2025-8194 CVE-2025-8291 CVE-2025-12084 CVE-2025-12781
    CVE-2025-13462 CVE-2025-15366 CVE-2025-15367 CVE-2026-0672 CVE-2026-0865 CVE-2026-1502
    CVE-2026-3446 CVE-2026-4519 CVE-2026-4786
""".split()
OPENVEX_STATUSES = {"not_affected", "affected", "fixed", "under_investigation"}
REPORT_LINE = re.compile(r"^(CVE-\d{4}-\d+): (\S+): (passed|failed)$", re.MULTILINE)


@pytest.mark.no_engine
def test_every_advisory_cve_is_fixed_or_accounted_for():
    entries, _ = python27_cves.all_cves()
    assert sorted(set(ADVISORIES) - set(entries)) == []


@pytest.mark.no_engine
def test_security_doc_and_openvex_are_the_patches():
    doc = python27_cves.SECURITY_DOC.read_text()
    assert python27_cves.render_doc(doc, python27_cves.table()) == doc, \
        "docs/security.md's CVE table is stale: python3 tests/env/python27_cves.py"
    assert python27_cves.OPENVEX.read_text() == python27_cves.openvex_text(), \
        "images/python2.7/openvex.json is stale: python3 tests/env/python27_cves.py"


@pytest.mark.no_engine
def test_openvex_document_follows_the_specification():
    document = json.loads(python27_cves.OPENVEX.read_text())
    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert document["@id"].startswith("urn:uuid:")
    assert document["author"] and isinstance(document["version"], int) and document["version"] >= 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", document["timestamp"])
    entries, _ = python27_cves.all_cves()
    assert [statement["vulnerability"]["name"] for statement in document["statements"]] == \
        sorted(entries, key=python27_cves.cve_order)
    for statement in document["statements"]:
        name = statement["vulnerability"]["name"]
        assert statement["status"] in OPENVEX_STATUSES, name
        assert statement["products"] and all(product["@id"] for product in statement["products"]), name
        if statement["status"] == "not_affected":
            assert statement.get("justification") in python27_cves.OPENVEX_JUSTIFICATIONS, name
        if statement["status"] == "affected":
            assert statement.get("action_statement"), name
    with_image = python27_cves.openvex("pkg:oci/app@sha256:" + "0" * 64)
    product = with_image["statements"][0]["products"][0]
    assert product["@id"].startswith("pkg:oci/app@")
    assert product["subcomponents"][0]["@id"] == python27_cves.PYTHON_PURL


@pytest.mark.no_engine
@pytest.mark.parametrize("fix", python27_cves.fixes(), ids=lambda fix: fix["cve"])
def test_each_patch_carries_the_tests_it_names(fix):
    """Each Test: id names a test in a test module the patch changes (the test, or the cases it
    reads), so that its tests travel with it and the build can apply them apart from the fix."""
    text = fix["patch"].read_text()
    diff = text[text.index("\n---\n"):]
    touched = set(re.findall(r"^\+\+\+ b/(\S+)", diff, re.MULTILINE))
    test_files = set(path for path in touched if re.search(r"/tests?/", path))
    assert test_files, "%s touches no test file" % fix["patch"].name
    assert touched - test_files, "%s fixes nothing: it touches only tests" % fix["patch"].name
    for test_id in fix["tests"]:
        module_path = "Lib/" + "/".join(test_id.split(".")[:-2]) + ".py"
        assert module_path in test_files, "%s: %s is not in a file the patch touches" % (fix["cve"], test_id)


@pytest.mark.slow(4)
def test_each_fix_test_fails_on_cpython_as_released(run, build_ca):
    """The build stage with PYTHON27_CVE_PATCHES=tests: CPython 2.7.18 as released plus the
    patches' tests, which the build requires to fail, each; the report it keeps says so."""
    tag = "uwsgi-nginx-test-python:2.7-cve-tests-%s" % run.id
    _, seconds = build_python27_base(run, build_ca, tag, "--target", "python2.7-build",
                                     "--build-arg", "PYTHON27_CVE_PATCHES=tests",
                                     log_name="python2.7-cve-tests")
    report = docker("run", "--rm", "--network", "none", tag, "cat", "/usr/src/cve-tests.txt").stdout
    outcomes = {(cve, test): outcome for cve, test, outcome in REPORT_LINE.findall(report)}
    expected = {(fix["cve"], test) for fix in python27_cves.fixes() for test in fix["tests"]}
    assert set(outcomes) == expected
    untestable = {fix["cve"] for fix in python27_cves.fixes() if fix["untestable"]}
    assert sorted(key for key, outcome in outcomes.items() if outcome != "failed" and key[0] not in untestable) == []
    (STATE_DIR / "python2.7-cve-tests-report.txt").write_text(report)
    print("On CPython 2.7.18 as released, %d tests of %d CVE fixes: all failed but those of %s,"
          " which cannot (built in %d s)" % (len(outcomes), len({cve for cve, _ in outcomes}),
                                             ", ".join(sorted(untestable)) or "none", seconds))
    print(report)


def test_the_default_image_answers_as_a_fixed_python(image):
    """The issue's reproducers, on the image a plain `docker build .` makes."""
    script = textwrap.dedent("""
        import ctypes, json, signal, subprocess, sys, urlparse
        def deadline(signum, frame):
            raise RuntimeError("took over 5 s")
        signal.signal(signal.SIGALRM, deadline)
        outcome = {}
        outcome["parse_qsl"] = urlparse.parse_qsl("a=1;b=2")
        outcome["scheme"] = urlparse.urlsplit(" https://evil.example/").scheme
        signal.alarm(5)
        try:
            ("xn--" + "a" * 5000).decode("idna")
        except Exception as error:
            outcome["idna"] = type(error).__name__ + ": " + str(error)[:60]
        signal.alarm(0)
        child = subprocess.call([sys.executable, "-c",
                                 "import ctypes; repr(ctypes.c_double.from_param(1e300))"])
        outcome["ctypes_repr_exit"] = child
        print(json.dumps(outcome))
    """)
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", script)
    outcome = json.loads(result.stdout)
    assert outcome["parse_qsl"] == [["a", "1;b=2"]]
    assert outcome["scheme"] == "https"
    assert outcome.get("idna", "").startswith("UnicodeError"), outcome
    assert outcome["ctypes_repr_exit"] == 0


def test_a_patch_that_does_not_apply_stops_the_build_naming_it(run, build_ca, tmp_path):
    """A CVE patch whose context no longer matches the source (one line of it changed) stops the
    build at apply-patches, which names it; nothing is compiled."""
    context = tmp_path / "context"
    (context / "images").mkdir(parents=True)
    shutil.copy(str(REPO / "Dockerfile"), str(context / "Dockerfile"))
    shutil.copy(str(REPO / ".dockerignore"), str(context / ".dockerignore"))
    shutil.copytree(str(REPO / "images" / "python2.7"), str(context / "images" / "python2.7"))
    broken = context / "images" / "python2.7" / "cve" / "CVE-2021-3177.patch"
    text = broken.read_text()
    context_line = next(line for line in text.splitlines() if line.startswith(" ") and line.strip()
                        and text.index(line) > text.index("\n---\n"))
    broken.write_text(text.replace(context_line + "\n", context_line + " /* not in 2.7.18 */\n", 1))
    base_image(run, PYTHON27_STAGE)
    result = docker_build_context(build_ca, context, "--label", run.label, "--target", "python2.7-build",
                                  "--build-arg", "PYTHON_SOURCE_URL=%s" % python27_source_url(), timeout=900)
    assert result.returncode != 0
    assert "apply-patches: /usr/src/python2.7/cve/CVE-2021-3177.patch does not apply" in result.stderr, \
        result.stderr[-3000:]
    assert "checking build system type" not in result.stderr  # stopped before ./configure


def test_a_fix_whose_test_fails_stops_the_build_naming_it(python27_build_stage, tmp_path):
    """check-cve-tests, as the build runs it, on the built Python with a patch whose test fails
    (its Test: line pointed at a test that does not pass): it names the patch and exits 1."""
    scripts = tmp_path / "python2.7"
    (scripts / "cve").mkdir(parents=True)
    shutil.copy(str(REPO / "images" / "python2.7" / "check-cve-tests"), str(scripts))
    patch = (REPO / "images" / "python2.7" / "cve" / "CVE-2021-3177.patch").read_text()
    failing = "test.test_urlparse.UrlParseTestCase.test_not_in_2_7_18"
    patch = re.sub(r"^Test: .*$", "Test: " + failing, patch, count=1, flags=re.MULTILINE)
    (scripts / "cve" / "CVE-2021-3177.patch").write_text(patch)
    for path in scripts.rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.name == "check-cve-tests" else 0o644)
    scripts.chmod(0o755)
    result = docker("run", "--rm", "--network", "none", "--volume", "%s:/mnt/python2.7:ro" % scripts,
                    python27_build_stage, "/mnt/python2.7/check-cve-tests", "all", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CVE-2021-3177: %s: failed" % failing in result.stdout
    assert "these did not: CVE-2021-3177.patch:%s" % failing in result.stderr
