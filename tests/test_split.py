"""nginx and uWSGI apart (issue 12's split mode): uWSGI over TCP in one container, and run-nginx
and run-uwsgi in containers of their own on a Docker network, uWSGI found by name, as Compose and
Swarm run them (deploy/compose.split.yaml, deploy/stack.split.yaml; the Kubernetes pod's split
runs in test_kubernetes.py). The tests' probe app (tests/apps/probe) serves in every container."""
import json
import re
import urllib.error
import urllib.request
import uuid

import pytest

from harness.containers import Container
from harness.docker_client import docker
from harness.waits import wait_for
from test_runtime import FAST_HEALTH, app_dir, env, mount
from test_security import image_processes, listening_tcp_ports, problems_in_logs
from websocket_client import TEXT, WebSocket

UWSGI_PORT, WEBSOCKET_PORT = 3031, 3032


def echoes_through_a_websocket(port):
    socket = WebSocket(port, "/websocket")
    assert socket.status == 101
    socket.send("hello")
    assert socket.receive() == (TEXT, b"hello")
    assert socket.close()


def programs(container):
    """The names of the programs the container's command started (PID 1's descendants)."""
    return {cmd.split(" ")[0].split("/")[-1].rstrip(":") for pid, _, _, cmd in image_processes(container) if pid != 1}


def test_uwsgi_over_tcp_in_one_container(image, start_container, tmp_path):
    container = start_container(image, *mount(app_dir(tmp_path)), *FAST_HEALTH, *env(
        UWSGI_SOCKET="127.0.0.1:%d" % UWSGI_PORT, UWSGI_WEBSOCKET_SOCKET="127.0.0.1:%d" % WEBSOCKET_PORT))
    status, _, body = container.wait_until_serving()
    assert (status, body) == (200, "probe app")
    assert {UWSGI_PORT, WEBSOCKET_PORT} <= listening_tcp_ports(container)
    # On loopback only, and no unix socket.
    assert container.exec("test", "-e", "/run/uwsgi/uwsgi.sock", check=False).returncode != 0
    addresses = [line.split()[1] for line in container.exec("cat", "/proc/net/tcp").stdout.splitlines()[1:]
                 if line.split()[3] == "0A"]
    assert "0100007F:%04X" % UWSGI_PORT in addresses and "00000000:%04X" % UWSGI_PORT not in addresses
    echoes_through_a_websocket(container.port)
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")
    assert docker("stop", container.name).returncode == 0
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()


def test_a_socket_that_is_neither_a_path_nor_host_and_port_is_refused(image, start_container):
    container = start_container(image, *env(UWSGI_SOCKET="3031"))
    assert container.wait_exit(timeout=20) != 0
    assert ('uwsgi-nginx-entrypoint: UWSGI_SOCKET="3031": expected an absolute path (a unix socket) or '
            '[host]:port (TCP, e.g. :3031, 127.0.0.1:3031, uwsgi:3031)') in container.logs()


@pytest.fixture
def network(docker_network, run, image):
    """(a Docker network of this test, run_uwsgi(app directory): a uWSGI container on it, found
    there by the name uwsgi; removed with the network)."""
    def run_uwsgi(app):
        container = Container("uwsgi-nginx-test-%s" % uuid.uuid4().hex[:12])
        docker("run", "--detach", "--name", container.name, "--label", run.label, "--network", docker_network,
               "--network-alias", "uwsgi", *mount(app), *FAST_HEALTH,
               *env(UWSGI_SOCKET=":%d" % UWSGI_PORT, UWSGI_WEBSOCKET_SOCKET=":%d" % WEBSOCKET_PORT),
               image, "run-uwsgi")
        return container

    return docker_network, run_uwsgi


def address(container, network_name):
    return container.inspect()["NetworkSettings"]["Networks"][network_name]["IPAddress"]


def test_nginx_and_uwsgi_in_containers_of_their_own(image, network, start_container, tmp_path):
    name, run_uwsgi = network
    app = app_dir(tmp_path)
    uwsgi = run_uwsgi(app)
    nginx = start_container(image, "--network", name, *FAST_HEALTH, *env(
        NGINX_UWSGI_SOCKET="uwsgi:%d" % UWSGI_PORT, NGINX_UWSGI_WEBSOCKET_SOCKET="uwsgi:%d" % WEBSOCKET_PORT),
        command=["run-nginx"])
    status, _, body = nginx.wait_until_serving()
    assert (status, body) == (200, "probe app")
    echoes_through_a_websocket(nginx.port)
    # Each program alone; each container's health check asks what it runs.
    assert programs(nginx) == {"nginx"} and programs(uwsgi) == {"uwsgi"}
    for container in (nginx, uwsgi):
        wait_for(lambda: container.health() == "healthy", 30, message="%s healthy" % container.name)
    assert "uwsgi://127.0.0.1:%d/" % UWSGI_PORT in uwsgi.exec("uwsgi-nginx-healthcheck").stdout
    assert nginx.exec("uwsgi-nginx-healthcheck", "nginx").stdout.endswith("204 healthy\n")
    assert uwsgi.exec("uwsgi-nginx-healthcheck", "nginx", check=False).returncode == 1

    # uWSGI replaced by a container at another address: nginx finds it by name again, unrestarted.
    nginx_started = nginx.inspect()["State"]["StartedAt"]
    replacement = run_uwsgi(app)
    assert address(replacement, name) != address(uwsgi, name)
    docker("rm", "--force", uwsgi.name)
    wait_for(lambda: replacement.health() == "healthy", 30, message="the replacement healthy")

    def served_by_the_replacement():
        answer = nginx.get("/environ")
        return answer and answer[0] == 200 and json.loads(answer[2])["HOSTNAME"] == replacement.inspect()[
            "Config"]["Hostname"]
    wait_for(served_by_the_replacement, 15, message="nginx to pass requests to the replacement")
    assert nginx.inspect()["State"]["StartedAt"] == nginx_started

    # Each stops gracefully, nginx first, with status 0.
    for container in (nginx, replacement):
        assert docker("stop", container.name).returncode == 0
        state, logs = container.inspect()["State"], container.logs()
        assert state["ExitCode"] == 0, logs
        assert problems_in_logs(logs) == [], logs


def test_a_get_cut_off_by_a_dying_uwsgi_goes_on_to_the_next_and_a_post_does_not(image, network, start_container,
                                                                                 tmp_path):
    """Two uWSGI containers under the one name, as a scaled Compose service or a Swarm service's
    tasks: the worker that takes /die is killed before it answers, a connection cut off."""
    name, run_uwsgi = network
    app = app_dir(tmp_path)
    uwsgis = [run_uwsgi(app), run_uwsgi(app)]
    nginx = start_container(image, "--network", name, *env(NGINX_UWSGI_SOCKET="uwsgi:%d" % UWSGI_PORT),
                            command=["run-nginx"])
    nginx.wait_until_serving()
    for container in uwsgis:
        wait_for(lambda: container.health() == "healthy", 30, message="%s healthy" % container.name)

    def cut_off(method):
        """How often nginx has logged a request of this method to /die cut off by uWSGI."""
        return len(re.findall(r'(?:prematurely closed connection|recv\(\) failed \(104: [^)]*\)) while reading '
                              r'response header from upstream, .*request: "%s /die ' % method, nginx.logs()))

    # A GET goes on to the other container (where it dies too: then 500, as for an app that
    # raised); a POST that reached the app is not sent again.
    assert nginx.get("/die")[0] == 500
    post = urllib.request.Request(nginx.url + "/die", data=b"form=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(post, timeout=10)
    assert answer.value.code == 500
    # What nginx logs of a request it logs before answering it, and its log keeps the order: the
    # GET after the POST is the POST's end in the log.
    assert nginx.get("/die")[0] == 500
    wait_for(lambda: cut_off("GET") == 4, 10, message="nginx's log of both GETs")
    assert cut_off("POST") == 1
    # uWSGI replaced each killed worker.
    wait_for(lambda: nginx.get("/")[0] == 200, 10, message="the app to answer again")


def test_uwsgi_stopping_on_its_own_stops_its_container_with_its_status(network, tmp_path):
    _, run_uwsgi = network
    uwsgi = run_uwsgi(app_dir(tmp_path))
    wait_for(lambda: uwsgi.health() == "healthy", 30, message="healthy")
    [master] = [pid for pid, ppid, _, cmd in image_processes(uwsgi) if ppid == 1]
    # The container stops at once, and may take the exec's shell with it (its status 137).
    uwsgi.exec("sh", "-c", "kill -KILL %d" % master, check=False)
    assert uwsgi.wait_exit(timeout=20) == 137
    assert "uwsgi-nginx-program: uwsgi stopped on its own (exit status 137)" in uwsgi.logs()
