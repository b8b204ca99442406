"""Base images and image builds: the base images the project's script builds, the `ca` build
secret, `docker build` of the repository, the python2.7 stage."""
import os
import re
import subprocess
import time

import pytest

from harness.config import ENV_DIR, HOST_CA_BUNDLE, PYTHON27_STAGE, PYTHON_IMAGE, REPO, STATE_DIR
from harness.docker_client import DOCKER, docker


def base_image(run, image):
    """A base image (python:<version>-slim, debian:<suite>, molecule:<suite>; for the python2.7
    stage, its debian:<suite>), built by the project's script where missing (the molecule
    platforms rebuilt from cache, picking up changes to their Dockerfile), once in a run. The
    script's log: base-images.log in the state directory. Its name: for another PLATFORM than
    the host's, with that architecture's prefix (arm64v8/python:3.14-slim)."""
    def ensure():
        log_path = STATE_DIR / "base-images.log"
        with open(log_path, "a") as log:
            result = subprocess.run([str(ENV_DIR / "base-images.sh"), image], stdout=subprocess.DEVNULL,
                                    stderr=log, timeout=3600)
        if result.returncode != 0:
            pytest.fail("tests/env/base-images.sh %s failed; %s ends with:\n%s"
                        % (image, log_path, "".join(log_path.read_text().splitlines(True)[-40:])))
        return image if image == PYTHON27_STAGE else platform_image_prefix() + image
    return run.once("base-image-" + image, ensure)


def platform_image_prefix():
    return lib_sh("platform_image_prefix")


def platform_build_arguments():
    """docker build's arguments for PLATFORM, none for the host's (lib.sh's, as the scripts')."""
    return lib_sh("platform_build_args").split()


def docker_build_context(build_ca, context, *arguments, timeout):
    """`docker build` of context as every build of the tests: on the host's network (where the
    stand-ins answer), plain progress, the CA bundle as the `ca` secret, for PLATFORM; arguments:
    the build's own (--tag, --label, --build-arg, --target). timeout: a limit for a build that
    hangs, natively; under qemu six times as long (the 3.14 image's build for arm64, uWSGI
    compiled and the playbook run under emulation, took 76 minutes). The CompletedProcess."""
    if platform_image_prefix():
        timeout *= 6
    return docker("build", "--network", "host", "--progress", "plain", "--secret", "id=ca,src=%s" % build_ca.path,
                  *platform_build_arguments(), *arguments, str(context), check=False, timeout=timeout)


def make_build_ca(directory):
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "marker.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=uwsgi-nginx build secret marker", "-keyout", str(directory / "key.pem"),
                    "-out", str(marker)], check=True, capture_output=True)
    bundle = directory / "bundle.pem"
    bundle.write_text((HOST_CA_BUNDLE.read_text() if HOST_CA_BUNDLE.exists() else "") + marker.read_text())
    return {"path": str(bundle), "marker": str(marker)}


def lib_sh(function, *args):
    """What a function of tests/env/lib.sh prints, given args."""
    return subprocess.run(["bash", "-c", 'source "$1/lib.sh" && "${@:2}"', "-", str(ENV_DIR), function, *args],
                          capture_output=True, text=True, check=True, env=dict(os.environ, DOCKER=DOCKER)
                          ).stdout.strip()


def python27_source_url():
    """CPython 2.7.18's tarball on the Debian mirror apt uses (python.org is out of this
    machine's reach): every build of a run takes it from there, so that they share the cache."""
    return lib_sh("python27_debian_source_url")


def dockerfile_python27_suite():
    """The Debian suite of the Dockerfile's python2.7 stage (its PYTHON27_SUITE default)."""
    return lib_sh("dockerfile_python27_suite")


def docker_build(run, build_ca, nginx_repo, tag, **build_args):
    """docker build of the repository as tag (labelled with the run), on PYTHON_IMAGE (built
    first if missing), nginx.org's repository answered by the stand-in, unless the build
    arguments say otherwise; the CompletedProcess."""
    arguments = {
        "PYTHON_IMAGE": PYTHON_IMAGE,
        "NGINX_REPO_URL": nginx_repo.url,
        "NGINX_SIGNING_KEY_URL": nginx_repo.key_url,
        "NGINX_KEY_FINGERPRINTS": nginx_repo.fingerprint,
    }
    arguments.update(build_args)
    arguments["PYTHON_IMAGE"] = base_image(run, arguments["PYTHON_IMAGE"])
    # The labels' arguments, as `make run` gives them (docs/building.md, "Labels").
    label_args = lib_sh("image_label_build_args", arguments["PYTHON_IMAGE"]).splitlines()[1::2]
    for key, value in (argument.split("=", 1) for argument in label_args):
        arguments.setdefault(key, value)
    if arguments["PYTHON_IMAGE"] == PYTHON27_STAGE:
        arguments.setdefault("PYTHON_SOURCE_URL", python27_source_url())
    build_arguments = [argument for key, value in arguments.items()
                       for argument in ("--build-arg", "%s=%s" % (key, value))]
    return docker_build_context(build_ca, REPO, "--label", run.label, "--tag", tag, *build_arguments, timeout=1800)


def build_failed(result):
    pytest.fail("docker build failed:\n" + result.stderr[-6000:], pytrace=False)


def python_version(python_image):
    """"2.7" for python:2.7-slim, uwsgi-nginx-python:2.7-bookworm and the python2.7 stage."""
    return re.search(r"\d+\.\d+", python_image).group(0)


def debian_suite(image_tag):
    return docker("run", "--rm", "--entrypoint", "sh", image_tag, "-c",
                  ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()


def python_image_build(run, build_ca, nginx_repo, python_image):
    """The image on python_image, built once in a run and shared by every worker; (tag, Debian
    suite)."""
    def build():
        tag = "uwsgi-nginx-test:%s-%s" % (python_version(python_image), run.id)
        result = docker_build(run, build_ca, nginx_repo, tag, PYTHON_IMAGE=python_image)
        if result.returncode != 0:
            build_failed(result)
        return [tag, debian_suite(tag)]
    return tuple(run.once("image-" + python_image, build))


def build_python27_base(run, build_ca, tag, *docker_build_args, log_name="python2.7-base"):
    """tests/env/build-python2.7-base.sh (the Dockerfile's python2.7 stage, or another --target)
    on the Dockerfile's suite, CPython's tarball from the Debian mirror: [tag, seconds], its log
    in the state directory (log_name.log)."""
    environment = {"SUITE": dockerfile_python27_suite(), "IMAGE": tag, "PYTHON_SOURCE_URL": python27_source_url(),
                   "BUILD_CA_FILE": str(build_ca.path)}
    log_path = STATE_DIR / (log_name + ".log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        result = subprocess.run(["env", *("%s=%s" % item for item in environment.items()),
                                 str(ENV_DIR / "build-python2.7-base.sh"), "--progress", "plain",
                                 "--label", run.label, *docker_build_args],
                                stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    if result.returncode != 0:
        pytest.fail("build-python2.7-base.sh failed; %s ends with:\n%s"
                    % (log_path, "".join(log_path.read_text().splitlines(True)[-60:])), pytrace=False)
    return [tag, round(time.monotonic() - started)]
