"""On an orchestrator (issues 11, 12 and 32): deploy/stack.yaml on a live one-node Docker Swarm,
under a steady load for every step, and its split layer (deploy/stack.split.yaml: nginx and
uWSGI as services of their own). Compose on one host: tests/test_compose.py.

This machine's kernel has no IPVS, so neither Swarm's routing mesh nor a service's virtual IP
works here: the stack is deployed as written but for endpoint_mode dnsrr (the service's name
resolves to its running, healthy tasks), no published port, and an attachable overlay network
the load client (tests/swarm/load_client.py, in a container on it) shares; its health check and
monitor windows are shortened, so that a step takes seconds; the same goes for a service a
layer adds (the split's uWSGI). Every request counts: connection
errors, timeouts and non-200 answers are failures. The swarm is left at the end if the test
made it (tests/run.sh leaves it too, if the run is killed)."""
import contextlib
import datetime
import json
import time
import uuid
from pathlib import Path

import pytest
import yaml

from harness.docker_client import docker
from harness.waits import wait_for

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
LOAD_CLIENT = Path(__file__).resolve().parent / "swarm" / "load_client.py"
CLIENT_THREADS = 4
# Answers the load client counts once a step has converged: all from the version expected.
ANSWERS_AFTER = 200
REPLICAS = 3
# The app of each version, in an image built FROM the one under test; X-Served-By names the
# container that answered (its host name: the first 12 digits of its id).
APP = ("import socket\n"
       "def application(environ, start_response):\n"
       "    start_response('{status}', [('Content-Type', 'text/plain'), ('X-Served-By', socket.gethostname())])\n"
       "    return [b'{answer}']\n")
VERSIONS = {"v1": ("200 OK", "version 1"), "v2": ("200 OK", "version 2"),
            # Answers 500, so its health check never passes: an update to it must roll back.
            "broken": ("500 Internal Server Error", "broken")}
SWARM_CREATED = "swarm-created"


@pytest.fixture(scope="module")
def swarm(run):
    """A Swarm this machine is the manager of: the one it is in, or one made here and left after."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    made = state == "inactive"
    if made:
        (run.directory / SWARM_CREATED).touch()
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    yield
    if made:
        docker("swarm", "leave", "--force", check=False)
        (run.directory / SWARM_CREATED).unlink()


@pytest.fixture
def versions(image, run, tmp_path):
    """{version: image tag} of the apps above, built FROM the image under test."""
    tags = {}
    for version, (status, answer) in VERSIONS.items():
        context = tmp_path / ("app-" + version)
        context.mkdir()
        (context / "main.py").write_text(APP.format(status=status, answer=answer))
        (context / "Dockerfile").write_text("FROM %s\nCOPY main.py /app/main.py\n" % image)
        tags[version] = "uwsgi-nginx-test-swarm:%s-%s" % (version, run.id)
        docker("build", "--label", run.label, "--tag", tags[version], str(context))
    return tags


@pytest.fixture
def network(swarm, run):
    name = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:8]
    docker("network", "create", "--driver", "overlay", "--attachable", "--label", run.label, name)
    yield name
    # Gone once the stack's tasks are: they leave the network as they are removed.
    wait_for(lambda: docker("network", "rm", name, check=False).returncode == 0, 60, interval=1,
             message="the network %s to be removed" % name)


def as_tested_here(service, network):
    """A service of a stack file as this machine can run it, quickly (the module's docstring)."""
    service.pop("ports", None)
    service["networks"] = [network]
    service["deploy"]["endpoint_mode"] = "dnsrr"
    service["healthcheck"].update(interval="1s", retries=2, start_period="5s")
    for config in ("update_config", "rollback_config"):
        service["deploy"][config]["monitor"] = "5s"


@pytest.fixture
def stack(network, tmp_path):
    """deploy(image, *layers) deploys deploy/stack.yaml, as the module's docstring says, with the
    other stack files of deploy/ named in layers over it; returns its service's name. Removed
    afterwards."""
    name = "unt%s" % uuid.uuid4().hex[:8]
    written = yaml.safe_load((DEPLOY / "stack.yaml").read_text())
    as_tested_here(written["services"]["web"], network)
    written["networks"] = {network: {"external": True}}
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(yaml.safe_dump(written))

    def layer_as_tested(layer):
        """The layer, each service it adds (one with an image of its own) as tested here."""
        path = DEPLOY / layer
        layered = yaml.safe_load(path.read_text())
        added = [service for service in layered["services"].values() if "image" in service]
        if not added:
            return path
        for service in added:
            as_tested_here(service, network)
        layered["networks"] = {network: {"external": True}}
        path = tmp_path / layer
        path.write_text(yaml.safe_dump(layered))
        return path

    def deploy(image, *layers):
        files = [argument for path in [stack_file] + [layer_as_tested(layer) for layer in layers]
                 for argument in ("--compose-file", str(path))]
        docker("stack", "deploy", "--resolve-image", "never", *files, name,
               env={"IMAGE": image, "REPLICAS": str(REPLICAS)})
        return name + "_web"

    yield deploy
    docker("stack", "rm", name, check=False)
    wait_for(lambda: not docker("ps", "--all", "--quiet", "--filter", "label=com.docker.stack.namespace=" + name,
                                check=False).stdout.strip(), 60, interval=0.5, message="the stack's containers to go")


def service(name):
    return json.loads(docker("service", "inspect", name).stdout)[0]


def running_tasks(name):
    """[(container id, image)] of the service's tasks that are running (healthy, with the image's
    health check) and meant to be."""
    tasks = json.loads("[%s]" % ",".join(docker(
        "service", "ps", name, "--filter", "desired-state=running", "--no-trunc", "--format", "{{json .}}",
    ).stdout.split()))
    running = [task["ID"] for task in tasks if task["CurrentState"].startswith("Running")]
    inspected = json.loads(docker("inspect", *running).stdout) if running else []
    return [(task["Status"]["ContainerStatus"]["ContainerID"], task["Spec"]["ContainerSpec"]["Image"])
            for task in inspected if task["Status"]["State"] == "running"]


def converged(name, replicas, image):
    """Exactly replicas tasks, all running the image, and no other task still up."""
    tasks = running_tasks(name)
    up = docker("ps", "--quiet", "--filter", "label=com.docker.swarm.service.name=" + name).stdout.split()
    return len(tasks) == replicas and {task_image for _, task_image in tasks} == {image} and len(up) == replicas


class Load:
    """The load client's container, controlled through a directory it shares with the test."""

    def __init__(self, name, control):
        self.name = name
        self.control = control

    def routes(self):
        """{address asked: [host names of the containers that answered]} so far."""
        path = self.control / "routes"
        return json.loads(path.read_text()) if path.exists() else {}

    def finish(self):
        """Counts ANSWERS_AFTER more answers, then stops; returns its summary (load_client.py)."""
        (self.control / "mark").touch()
        wait_for(lambda: docker("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "false",
                 120, interval=0.5, message="the load client to finish")
        return json.loads(docker("logs", self.name).stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def load(service_name, network, image, run, tmp_path):
    control = tmp_path / ("load-" + uuid.uuid4().hex[:8])
    control.mkdir()
    (control / "answers-after-mark").write_text(str(ANSWERS_AFTER))
    name = "uwsgi-nginx-test-load-%s" % uuid.uuid4().hex[:8]
    docker("run", "--detach", "--name", name, "--label", run.label, "--network", network,
           "--volume", "%s:/load" % control, "--volume", "%s:/load_client.py:ro" % LOAD_CLIENT,
           "--entrypoint", "python", image, "/load_client.py", service_name, "80", "/load", str(CLIENT_THREADS))
    try:
        wait_for(lambda: (control / "started").exists(), 30, message="the load client to start")
        yield Load(name, control)
    finally:
        (control / "stop").touch()
        docker("rm", "--force", name, check=False)


def under_load(report, title, load_client, act, until, timeout, ready=None):
    """Under load: once ready(load) holds, act(), then wait for until(); returns the load's
    summary, and records the counts and the time to converge in report[title]."""
    with load_client() as client:
        if ready:
            wait_for(lambda: ready(client), 30, interval=0.5, message="%s: ready" % title)
        started = time.monotonic()
        act()
        wait_for(until, timeout, interval=0.5, message=title)
        seconds = time.monotonic() - started
        summary = client.finish()
    report[title] = {"sent": summary["sent"], "failed": summary["failed"], "converged in s": round(seconds, 1),
                     "not connected": summary["not_connected"], "failures": summary["failures"]}
    print("%s: %s" % (title, json.dumps(report[title])))
    return summary


@pytest.mark.exclusive
@pytest.mark.slow(4)
def test_a_stack_updates_rolls_back_heals_and_scales_under_load(swarm, versions, network, stack, image, run,
                                                                tmp_path):
    web = stack(versions["v1"])
    wait_for(lambda: converged(web, REPLICAS, versions["v1"]), 120, interval=0.5, message="3 healthy tasks")
    report = {}

    def step(title, act, until, timeout=240):
        return under_load(report, title, lambda: load(web, network, image, run, tmp_path), act, until, timeout)

    def update_to(version):
        return lambda: docker("service", "update", "--detach", "--no-resolve-image", "--image", versions[version], web)

    def update_state():
        return (service(web).get("UpdateStatus") or {}).get("State")

    # 1. A rolling update to a new version: nothing fails, and then only it answers.
    summary = step("rolling update", update_to("v2"),
                   lambda: update_state() == "completed" and converged(web, REPLICAS, versions["v2"]))
    assert summary["failed"] == 0, summary
    assert list(summary["answers_after_mark"]) == ["version 2"], summary

    # 2. An update to a version that never becomes healthy rolls back by itself.
    summary = step("update rolled back", update_to("broken"),
                   lambda: update_state() == "rollback_completed" and converged(web, REPLICAS, versions["v2"]))
    assert service(web)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == versions["v2"]
    assert summary["failed"] == 0, summary
    assert list(summary["answers_after_mark"]) == ["version 2"], summary

    # 3. A task's container killed: Swarm replaces it. What fails is at most what was in flight
    # inside it, a request per thread of the client's; a connection to its address that could not
    # be made until Swarm's DNS forgot it went to another task, as a proxy in front does.
    killed = running_tasks(web)[0][0]
    killed_address = address_of(killed)
    summary = step("task killed", lambda: docker("kill", killed),
                   lambda: converged(web, REPLICAS, versions["v2"]) and killed not in dict(running_tasks(web)))
    assert summary["failed"] <= CLIENT_THREADS and len(summary["failures"]) == summary["failed"], summary
    assert {failure["address"] for failure in summary["failures"]} <= {killed_address}, summary
    assert summary["failed_after_mark"] == 0, summary

    # 4. Scaled down: the tasks that stop drain first.
    summary = step("scaled 3 to 1", lambda: docker("service", "scale", "--detach", web + "=1"),
                   lambda: converged(web, 1, versions["v2"]))
    assert summary["failed"] == 0, summary


@pytest.mark.exclusive
def test_the_stack_as_a_user_other_than_root(swarm, versions, network, stack, image, run, tmp_path):
    web = stack(versions["v1"], "stack.non-root.yaml")
    wait_for(lambda: converged(web, REPLICAS, versions["v1"]), 120, interval=0.5, message="3 healthy tasks")
    for container, _ in running_tasks(web):
        users = [line.split()[0] for line in docker("top", container, "-eo", "uid,pid").stdout.splitlines()[1:]]
        assert set(users) == {"10001"}, users
    with load(web, network, image, run, tmp_path) as client:
        summary = client.finish()
    assert summary["failed"] == 0 and list(summary["answers_after_mark"]) == ["version 1"], summary


def address_of(container):
    """The container's address on the test's network."""
    return docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  container).stdout.strip()


def health_checks_since(container, since):
    """Exit codes of the container's health checks started after since (of the last five,
    which Docker keeps)."""
    log = json.loads(docker("inspect", "--format", "{{json .State.Health.Log}}", container).stdout) or []
    return [check["ExitCode"] for check in log if datetime.datetime.fromisoformat(check["Start"]) > since]


def nginx_passes_to_every_uwsgi_task(web, uwsgi):
    """ready(load) for the split stack: every nginx task has passed the load's requests to every
    uWSGI task, so each knows every address (it learns of a new task within 5 s, as its cached
    lookup of the name expires)."""
    def ready(load):
        routes = load.routes()
        served_by = {container[:12] for container, _ in running_tasks(uwsgi)}
        return all(set(routes.get(address_of(container), ())) >= served_by for container, _ in running_tasks(web))
    return ready


def serves_the_app(container):
    """The app answers through the task's nginx (the image's full health check, run in it)."""
    return docker("exec", container, "uwsgi-nginx-healthcheck", check=False).returncode == 0


@pytest.mark.exclusive
@pytest.mark.slow(3)
def test_the_split_stack_heals_and_updates_uwsgi_alone_under_load(swarm, versions, network, stack, image, run,
                                                                  tmp_path):
    web = stack(versions["v1"], "stack.split.yaml")
    uwsgi = web[:-len("web")] + "uwsgi"
    wait_for(lambda: converged(web, REPLICAS, versions["v1"]) and converged(uwsgi, REPLICAS, versions["v1"]), 120,
             interval=0.5, message="3 healthy tasks of each service")
    for container, _ in running_tasks(web):
        assert "run-nginx" in docker("inspect", "--format", "{{json .Config.Cmd}}", container).stdout
    web_tasks = running_tasks(web)
    ready = nginx_passes_to_every_uwsgi_task(web, uwsgi)
    report = {}

    def step(title, act, until, timeout=240):
        return under_load(report, title, lambda: load(web, network, image, run, tmp_path), act, until, timeout,
                          ready=ready)

    # 1. A uWSGI task's container killed: Swarm replaces it, at another address. nginx knows
    # every task's address (tasks.uwsgi) and passes what the killed one refused or cut off to
    # another: no request fails.
    killed = running_tasks(uwsgi)[0][0]
    summary = step("uwsgi task killed", lambda: docker("kill", killed),
                   lambda: converged(uwsgi, REPLICAS, versions["v1"]) and killed not in dict(running_tasks(uwsgi)))
    assert summary["failed"] == 0, summary

    # 2. All of uWSGI away for longer than nginx's health check's window: nginx is healthy all
    # along (its health is its own) and no task of it is replaced; it serves again as soon as
    # uWSGI is back.
    docker("service", "scale", "--detach", uwsgi + "=0")
    wait_for(lambda: not docker("ps", "--quiet", "--filter", "label=com.docker.swarm.service.name=" + uwsgi).stdout
             .strip(), 60, interval=0.5, message="uWSGI's tasks to go")
    gone = datetime.datetime.now(datetime.timezone.utc)
    retries = service(web)["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Retries"]
    wait_for(lambda: all(len(health_checks_since(container, gone)) > retries for container, _ in web_tasks), 60,
             interval=0.5, message="nginx's health checks to outlast their window")
    assert not any(serves_the_app(container) for container, _ in web_tasks)
    assert all(set(health_checks_since(container, gone)) == {0} for container, _ in web_tasks)
    assert set(running_tasks(web)) == set(web_tasks)
    docker("service", "scale", "--detach", "%s=%d" % (uwsgi, REPLICAS))
    wait_for(lambda: running_tasks(uwsgi), 60, interval=0.2, message="a uWSGI task to be healthy")
    back = time.monotonic()
    # nginx looks the name up again 5 s after it last did.
    wait_for(lambda: all(serves_the_app(container) for container, _ in web_tasks), 15, interval=0.2,
             message="nginx to serve the app again")
    report["uwsgi away, back"] = {"served again in s": round(time.monotonic() - back, 1)}
    print("uwsgi away, back: %s" % json.dumps(report["uwsgi away, back"]))
    wait_for(lambda: converged(uwsgi, REPLICAS, versions["v1"]), 120, interval=0.5, message="uWSGI to converge")

    # 3. uWSGI alone updated to a new version: nginx's tasks stay, and then only it answers.
    summary = step("uwsgi updated alone",
                   lambda: docker("service", "update", "--detach", "--no-resolve-image", "--image", versions["v2"],
                                  uwsgi),
                   lambda: converged(uwsgi, REPLICAS, versions["v2"]))
    assert summary["failed"] == 0, summary
    assert list(summary["answers_after_mark"]) == ["version 2"], summary
    assert set(running_tasks(web)) == set(web_tasks)
