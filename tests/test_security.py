"""Security defaults, black-box: unprivileged workers, supervisord's control socket out of their
reach and nothing of it on the network, no version or welcome page from nginx; the image run
read-only, with every capability dropped but the documented ones, and as a user other than
root; nothing of the build (secrets, Ansible, compilers, caches) in any layer of `docker save`."""
import io
import json
import re
import subprocess
import tarfile
import urllib.error
import urllib.request

import pytest

from harness.config import HOST_CA_BUNDLE, PYTHON_IMAGE
from harness.docker_client import docker
from harness.waits import wait_for
from test_runtime import FAST_HEALTH, app_dir, env, mount, post

# What README.md documents, and these tests run the image with.
READ_ONLY = ["--read-only", "--tmpfs", "/run:size=256m", "--tmpfs", "/tmp:size=64m"]
CAPABILITIES = ["CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE", "KILL", "DAC_OVERRIDE"]
CAP_DROP = ["--cap-drop", "ALL"] + [argument for cap in CAPABILITIES for argument in ("--cap-add", cap)]
# Docker lets any user bind ports below 1024 (net.ipv4.ip_unprivileged_port_start=0) where other
# runtimes do not: the tests ask for the kernel's default, so that NET_BIND_SERVICE is needed.
PRIVILEGED_PORTS = ["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"]
NON_ROOT_UID = 10001
NON_ROOT = ["--user", str(NON_ROOT_UID), "--tmpfs", "/run:uid=%d,size=256m" % NON_ROOT_UID,
            "--env", "LISTEN_PORT=8080"]
SUPERVISOR_SOCKET = "/run/supervisor/supervisor.sock"


def user_id(container, name):
    return container.exec("id", "-u", name).stdout.strip()


def image_processes(container):
    """The container's processes that its command started: PID 1 and its descendants, not what
    `docker exec` runs beside them (the health check, which begins as root in runc's init before
    it takes the container's user)."""
    table = container.processes()
    tree = {1}
    for _ in table:
        tree |= {pid for pid, ppid, _, _ in table if ppid in tree}
    return [row for row in table if row[0] in tree]


def listening_tcp_ports(container):
    """Ports with a listening TCP socket (IPv4 and IPv6) in the container's network namespace."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in container.exec("cat", table).stdout.splitlines()[1:]:
            local_address, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                ports.add(int(local_address.rsplit(":", 1)[1], 16))
    return ports


def problems_in_logs(logs):
    """Lines of nginx, uWSGI or supervisord that say something is wrong. Not nginx's [crit] for
    uWSGI's socket not being there yet: a request that came while uWSGI was starting (the health
    check's, or the test's wait for its first 200), answered 502."""
    pattern = re.compile(r"\[(alert|emerg|crit)\]|CRIT|Read-only file system|Permission denied|"
                         r"Operation not permitted|directive makes sense only if the master process runs")
    starting = re.compile(r"\[crit\] .* connect\(\) to unix:\S+ failed \(2: No such file or directory\)")
    return [line for line in logs.splitlines() if pattern.search(line) and not starting.search(line)]


def serves_and_stops_cleanly(container, port_in_container=80):
    """The app answers, uploads (nginx's and uWSGI's temporary files) and static files work, the
    health check passes, and `docker stop` ends the container with status 0."""
    status, _, body = container.wait_until_serving()
    assert (status, body) == (200, "probe app")
    # Beyond nginx's body buffer (16k) and uWSGI's post-buffering (64k): both spill to a file.
    assert post(container.url + "/upload", 512 * 1024) == 200
    assert container.get("/static/a.txt")[2] == "a"
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")
    assert listening_tcp_ports(container) == {port_in_container}
    result = docker("stop", "--time", "10", container.name)
    assert result.returncode == 0
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()
    assert problems_in_logs(container.logs()) == [], container.logs()


def probe_app(tmp_path):
    return mount(app_dir(tmp_path, {"static/a.txt": "a"}))


# --- users, supervisord, nginx ------------------------------------------------------------

@pytest.mark.parametrize("user", ["uwsgi", "www-data"])
def test_the_workers_users_cannot_reach_supervisords_socket(image, start_container, user):
    container = start_container(image)
    container.wait_until_serving()
    connect = ("import socket; socket.socket(socket.AF_UNIX).connect(%r)" % SUPERVISOR_SOCKET)
    as_user = docker("exec", "--user", user, container.name, "python", "-c", connect, check=False)
    assert as_user.returncode != 0 and "Permission denied" in as_user.stderr, as_user
    supervisorctl = docker("exec", "--user", user, container.name, "supervisorctl", "status", check=False)
    assert supervisorctl.returncode != 0 and "RUNNING" not in supervisorctl.stdout, supervisorctl
    assert "Permission denied" in supervisorctl.stdout + supervisorctl.stderr, supervisorctl
    # The same from root: the socket answers (a program may still be STARTING, for startsecs).
    as_root = container.exec("supervisorctl", "status", check=False).stdout
    assert re.search(r"^uwsgi +(STARTING|RUNNING)", as_root, re.M), as_root


def test_only_nginx_listens_on_the_network(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    assert listening_tcp_ports(container) == {80}
    config = container.exec("cat", "/etc/supervisor/supervisord.conf").stdout
    assert "[unix_http_server]" in config and "inet_http_server" not in config


def test_nginx_tells_no_version(image, start_container):
    container = start_container(image, *env(NGINX_MAX_UPLOAD="1k"))
    status, headers, _ = container.wait_until_serving()
    assert headers["Server"] == "nginx"
    # nginx's own error page (413: larger than NGINX_MAX_UPLOAD), not the app's.
    request = urllib.request.Request(container.url + "/", data=b"x" * 4096, method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    body = error.value.read().decode()
    assert error.value.code == 413 and error.value.headers["Server"] == "nginx"
    assert "<center>nginx</center>" in body and not re.search(r"nginx/[0-9]", body), body


STATUS_PATH = "/_uwsgi-nginx/status"


def test_no_welcome_or_status_page(image, start_container, tmp_path):
    container = start_container(image, *probe_app(tmp_path))
    container.wait_until_serving()
    for path in ["/", "/index.html", "/nginx_status", "/status", "/stub_status", "/server-status"]:
        status, headers, body = container.get(path)
        assert headers.get("X-Probe-Path") == path and body == "probe app", (path, status, body[:200])
    assert container.exec("ls", "-A", "/etc/nginx/conf.d").stdout == ""
    assert container.exec("test", "-e", "/etc/nginx/sites-enabled/default", check=False).returncode != 0
    dumped = container.exec("nginx", "-T", "-c", "/run/uwsgi-nginx/nginx.conf").stdout
    assert "/usr/share/nginx/html" not in dumped, dumped
    # nginx's counters, for the metrics exporter, to loopback clients only.
    assert dumped.count("stub_status") == 1
    assert container.get(STATUS_PATH)[0] == 403
    inside = container.fetch_inside("http://127.0.0.1" + STATUS_PATH)
    assert inside.startswith("Active connections:"), inside


# --- read-only, capabilities, a user other than root ----------------------------------------

RESTRICTED_RUNS = {
    "read-only": READ_ONLY,
    "cap-drop": CAP_DROP + PRIVILEGED_PORTS,
    "read-only-and-cap-drop": READ_ONLY + CAP_DROP + PRIVILEGED_PORTS,
}


@pytest.mark.parametrize("run_args", list(RESTRICTED_RUNS.values()), ids=list(RESTRICTED_RUNS))
def test_the_image_runs_restricted_as_documented(image, start_container, tmp_path, run_args):
    container = start_container(image, *probe_app(tmp_path), *run_args, *FAST_HEALTH)
    container.wait_until_serving()
    table = container.processes()
    nginx_workers = {uid for _, _, uid, _ in container.nginx_workers(table)}
    assert nginx_workers == {user_id(container, "www-data")}, table
    assert {uid for _, _, uid, cmd in table if cmd.startswith("uwsgi ")} == {user_id(container, "uwsgi")}, table
    serves_and_stops_cleanly(container)


@pytest.mark.parametrize("missing", CAPABILITIES)
def test_every_documented_capability_is_needed(image, start_container, tmp_path, missing):
    """Without any one of them, the container does not serve, or does not stop cleanly."""
    others = ["--cap-drop", "ALL"] + [argument for cap in CAPABILITIES if cap != missing
                                      for argument in ("--cap-add", cap)]
    container = start_container(image, *probe_app(tmp_path), *READ_ONLY, *others, *PRIVILEGED_PORTS)
    with pytest.raises((AssertionError, subprocess.CalledProcessError)):
        serves_and_stops_cleanly(container)


NON_ROOT_RUNS = {
    "non-root": NON_ROOT,
    # No passwd entry: docker gives the user group 0, which may write the image's /run.
    "non-root-image-run": ["--user", str(NON_ROOT_UID), "--env", "LISTEN_PORT=8080"],
    # Read-only, with tmpfs mounts as Swarm makes them (root's, with the mode of the image's /run).
    "non-root-read-only-root-tmpfs": ["--user", str(NON_ROOT_UID), "--read-only", "--tmpfs", "/run:size=256m",
                                      "--tmpfs", "/tmp:size=64m", "--cap-drop", "ALL", "--env", "LISTEN_PORT=8080"],
    "non-root-read-only-no-capabilities": NON_ROOT + ["--read-only", "--tmpfs", "/tmp:size=64m", "--cap-drop", "ALL",
                                                      "--security-opt", "no-new-privileges"],
}


@pytest.mark.parametrize("run_args", list(NON_ROOT_RUNS.values()), ids=list(NON_ROOT_RUNS))
def test_the_whole_container_runs_as_a_user_other_than_root(image, start_container, tmp_path, run_args):
    container = start_container(image, *probe_app(tmp_path), *run_args, *FAST_HEALTH, port=8080)
    container.wait_until_serving()
    table = image_processes(container)
    assert {uid for _, _, uid, _ in table} == {str(NON_ROOT_UID)}, table
    assert container.nginx_workers(table), table
    serves_and_stops_cleanly(container, port_in_container=8080)


def test_a_user_other_than_root_without_its_own_run_is_told_what_to_mount(image, start_container):
    container = start_container(image, "--user", "%d:%d" % (NON_ROOT_UID, NON_ROOT_UID))
    assert container.wait_exit(timeout=20) != 0
    logs = container.logs()
    assert "--user %d:0" % NON_ROOT_UID in logs and "--tmpfs /run:uid=%d" % NON_ROOT_UID in logs, logs
    assert "supervisord" not in logs


# --- what the image holds ---------------------------------------------------------------------

def saved_layers(image, tmp_path):
    """(layer diff id, tar of the layer) of every layer of the image, base first."""
    archive = tmp_path / "image.tar"
    docker("save", "--output", str(archive), image)
    diff_ids = json.loads(docker("image", "inspect", image).stdout)[0]["RootFS"]["Layers"]
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for diff_id, layer in zip(diff_ids, manifest[0]["Layers"]):
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(layer).read())) as inner:
                yield diff_id, inner


def pem_bodies(text):
    """Each PEM certificate of a bundle, its base64 on one line."""
    return set("".join(block.split()) for block in re.findall(
        r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S))


# Anywhere in the image: the build's secrets, Ansible, compilers, caches of apt and pip.
FORBIDDEN_IN_ANY_LAYER = re.compile(
    r"^(\./)?(run/secrets|run/build-ca|mnt/[^/]+|root/\.cache|root/\.ansible|opt/ansible)/."
    r"|(^|/)(ansible|ansible_collections|ansible_core[^/]*\.(dist|egg)-info)/"
    r"|^(\./)?usr/bin/(gcc|cc|c\+\+|g\+\+|x86_64-linux-gnu-gcc)(-[0-9.]+)?$|/cc1(plus)?$|^(\./)?usr/lib/gcc/."
    r"|^(\./)?var/cache/apt/archives/[^/]+\.deb$|^(\./)?var/lib/apt/lists/[^/]+_[^/]+$")
# Above the base image (whose official recipe keeps Python's headers): no compiling headers,
# Python's or the C library's.
FORBIDDEN_ABOVE_THE_BASE = re.compile(r"^(\./)?usr/(local/)?include/(python[^/]*/Python\.h|stdio\.h)$")


def test_no_secret_ca_ansible_compiler_or_cache_in_any_layer(image, python_base, build_ca, tmp_path):
    """Every layer of `docker save`, as a registry would get it: no file the build only needed,
    and no file holding the `ca` build secret: its marker certificate anywhere, nor, above the
    base image, any certificate of this machine's bundle that the base image does not hold
    already (a TLS-inspecting proxy's)."""
    base_layers = json.loads(docker("image", "inspect", python_base).stdout)[0]["RootFS"]["Layers"]
    host_certificates = pem_bodies(HOST_CA_BUNDLE.read_text() if HOST_CA_BUNDLE.exists() else "")
    marker = "".join(build_ca.marker_lines).encode()
    base_certificates, found, layers = set(), [], 0
    for index, (diff_id, inner) in enumerate(saved_layers(image, tmp_path)):
        layers += 1
        above_the_base = index >= len(base_layers)
        if not above_the_base:
            assert diff_id == base_layers[index], "not built on %s" % PYTHON_IMAGE
        build_only = [certificate.encode() for certificate in host_certificates - base_certificates]
        for member in inner.getmembers():
            if FORBIDDEN_IN_ANY_LAYER.search(member.name) or (
                    above_the_base and FORBIDDEN_ABOVE_THE_BASE.search(member.name)):
                found.append((diff_id, member.name))
            if not member.isfile() or member.size >= 50_000_000:
                continue
            content = inner.extractfile(member).read()
            flattened = b"".join(content.split())
            if marker in flattened or build_ca.marker_der in content:
                found.append((diff_id, member.name + " (holds the build secret's marker)"))
            elif not above_the_base and b"BEGIN CERTIFICATE" in content:
                base_certificates |= pem_bodies(content.decode("latin-1"))
            elif above_the_base and any(certificate in flattened for certificate in build_only):
                found.append((diff_id, member.name + " (holds a certificate of the build secret)"))
    assert layers > len(base_layers)
    assert not found, found
    history = docker("history", "--no-trunc", image).stdout
    assert "BEGIN CERTIFICATE" not in history
