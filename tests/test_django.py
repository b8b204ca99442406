"""examples/django, as a Django user builds it FROM the image: Django 1.11 on the default
Python 2.7, Django 5.2 on 3.14. Its pages come from Django through nginx and uWSGI, its static
files (collectstatic at build time into STATIC_PATH) from nginx alone, its database (SQLite in
/var/lib/app) from the migrations the prestart hook runs at every start. The example is built
once a run on each Python, its image shared by the tests."""
import re
import uuid
from pathlib import Path

import pytest

from harness.config import PYTHONS_DEFAULT_AND_314
from harness.docker_client import docker
from harness.images import docker_build_context, python_image_build, python_version
from test_runtime import env

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "django"
STYLESHEET = EXAMPLE / "app" / "visits" / "static" / "visits" / "style.css"
DJANGO = {"2.7": "1.11.29"}
DJANGO_ON_PYTHON_3 = "5.2."
MIGRATED = "Applying visits.0001_initial... OK"


@pytest.fixture(scope="module", params=PYTHONS_DEFAULT_AND_314)
def django_example(request, run, build_ca, nginx_repo):
    """(tag, Python version) of examples/django built FROM the image on that Python."""
    image, _ = python_image_build(run, build_ca, nginx_repo, request.param)
    version = python_version(request.param)

    def build():
        tag = image + "-django"
        result = docker_build_context(build_ca, EXAMPLE, "--label", run.label, "--build-arg", "BASE_IMAGE=" + image,
                                      "--tag", tag, timeout=900)
        assert result.returncode == 0, result.stderr[-4000:]
        return tag
    return run.once("django-example-" + request.param, build), version


def visit(container):
    status, _, body = container.get("/visits/")
    assert status == 200, (status, body, container.logs()[-3000:])
    return body


def test_django_pages_through_uwsgi_static_files_from_nginx_and_migrations_in_prestart(
        django_example, start_container):
    tag, python = django_example
    container = start_container(tag)
    status, headers, body = container.wait_until_serving()
    assert "Hello from Django %s" % DJANGO.get(python, DJANGO_ON_PYTHON_3) in body, body
    assert "on Python %s</p>" % python in body, body
    # Django's XFrameOptionsMiddleware marks every answer of Django's; nginx's own have no mark.
    assert headers["Server"] == "nginx" and headers["X-Frame-Options"], dict(headers)
    assert '<link rel="stylesheet" href="/static/visits/style.css">' in body
    # collectstatic put it in /app/static, which nginx serves at /static (its ETag is
    # mtime-size in hex); DEBUG is off, so Django would not serve it anyway.
    status, headers, css = container.get("/static/visits/style.css")
    assert (status, css) == (200, STYLESHEET.read_text()), (status, css)
    assert re.match(r'^"[0-9a-f]+-%x"$' % STYLESHEET.stat().st_size, headers["ETag"]), dict(headers)
    assert headers["X-Frame-Options"] is None, dict(headers)
    # The database: the migration ran in the prestart hook, and the workers may write the file.
    assert MIGRATED in container.logs()
    assert (visit(container), visit(container)) == ("visit 1\n", "visit 2\n")


def test_django_data_in_a_volume_outlives_the_container(django_example, start_container, run):
    tag, _ = django_example
    volume = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:12]
    docker("volume", "create", "--label", run.label, volume)
    try:
        first = start_container(tag, "--volume", volume + ":/var/lib/app")
        first.wait_until_serving()
        assert (visit(first), visit(first)) == ("visit 1\n", "visit 2\n")
        docker("rm", "--force", first.name)
        second = start_container(tag, "--volume", volume + ":/var/lib/app")
        second.wait_until_serving()
        assert "No migrations to apply." in second.logs(), second.logs()[-3000:]
        assert visit(second) == "visit 3\n"
    finally:
        docker("volume", "rm", "--force", volume, check=False)


def test_django_as_a_user_other_than_root_needs_a_data_directory_of_its_own(django_example, start_container):
    """docker run --user 10001: the image's /var/lib/app is the uwsgi user's, which the
    migrations cannot write; a tmpfs (or a volume) that user owns serves."""
    tag, _ = django_example
    as_user = ["--user", "10001", *env(LISTEN_PORT="8080")]
    refused = start_container(tag, *as_user, port=8080)
    assert refused.wait_exit(timeout=60) == 1
    logs = refused.logs()
    assert "unable to open database file" in logs and "/app/prestart.sh exited with 1; not starting" in logs, logs
    container = start_container(tag, *as_user, "--tmpfs", "/var/lib/app:uid=10001", port=8080)
    container.wait_until_serving()
    assert MIGRATED in container.logs()
    assert visit(container) == "visit 1\n"
    assert container.exec("stat", "-c", "%u", "/var/lib/app/db.sqlite3").stdout.strip() == "10001"
