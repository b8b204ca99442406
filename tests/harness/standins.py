"""Loopback stand-ins for the upstreams this machine cannot reach: nginx.org's repository,
Debian's archive."""
import subprocess

import loopback
import pytest

from harness.config import ENV_DIR, NGINX_REPO_SUITES
from harness.images import lib_sh


def start_nginx_repo(run):
    """A signed apt repository in nginx.org's layout on 127.0.0.1, one key signing a package
    for each of NGINX_REPO_SUITES (Debian's nginx repacked), as nginx.org's: one URL for every
    image, for the host's architecture and PLATFORM's."""
    directory = run.directory / "nginx-repo"
    platform_arch = lib_sh("platform_arch")
    architectures = sorted({lib_sh("host_arch"), platform_arch})
    made = subprocess.run([str(ENV_DIR / "nginx-repo.sh"), ",".join(NGINX_REPO_SUITES), str(directory),
                           ",".join(architectures)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail("tests/env/nginx-repo.sh failed:\n" + made.stderr[-4000:], pytrace=False)
    url = loopback.start_static("nginx-repo", str(directory), str(run.directory))
    # The versions PLATFORM's images install: an architecture's may differ from another's (the
    # newest the mirror serves for it).
    versions = {}
    for suite in NGINX_REPO_SUITES:
        index = directory / "packages/debian/dists" / suite / ("nginx/binary-%s/Packages" % platform_arch)
        packages = index.read_text()
        versions[suite] = next(line.split(":", 1)[1].strip() for line in packages.splitlines()
                               if line.startswith("Version:"))
    return {"url": url + "/packages", "key_url": url + "/keys/nginx_signing.key",
            "fingerprint": (directory / "fingerprint").read_text().strip(), "versions": versions}


def start_debian_archive(run):
    main, security = loopback.host_debian_mirrors()
    url = loopback.start_proxy("debian-archive", {"/debian": main, "/debian-security": security},
                               str(run.directory))
    # apt pins nginx.org by origin, the URL's host name: the archive must not share 127.0.0.1
    # with the nginx.org stand-in, or the pin would lift Debian's packages too.
    url = url.replace("//127.0.0.1:", "//localhost:")
    return {"url": url + "/debian", "security_url": url + "/debian-security",
            "log": str(run.directory / "debian-archive.log")}
