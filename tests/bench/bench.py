"""`make bench`: the image under load beside the servers users would pick instead, on four
workloads, in one run. Not a pass/fail test: it prints markdown tables and writes the numbers as
JSON.

Contenders, each in its own containers, all of them held to the same CPUs (--server-cpus), the
load generator on the others (--client-cpus) inside the contender's network namespace (no
bridge, no proxy in between), every one serving the same app (tests/bench/app):
  ours              the image's defaults;
  reference         tiangolo/uwsgi-nginx's defaults through the image's own configuration
                    surface: uWSGI processes 16 with cheaper 2, listen backlog 100 and a log
                    line per request (settings and an app uwsgi.ini), nginx 1 worker x 1024
                    connections logging each request at once (reference-nginx.conf);
  limit             nginx answering the hello world itself (a conf.d server): no uWSGI, the
                    ceiling (hello world only);
  tcp               ours with uWSGI on loopback TCP (UWSGI_SOCKET=127.0.0.1:3031);
  split             run-nginx and run-uwsgi in two containers sharing a network namespace and
                    uWSGI's socket directory (the Kubernetes split overlay's pod);
  gunicorn-sync     gunicorn, 2 x CPUs + 1 sync workers (its documentation's advice),
  gunicorn-gthread  the same with the gthread worker, 4 threads each,
  meinheld          gunicorn with meinheld's worker, one per CPU (Python 2.7 to 3.9),
  bjoern            bjoern, one process per CPU,
  granian-nginx     granian (Python 3), one worker per CPU (its advice), its defaults otherwise,
                    each behind our nginx (run-nginx, peers-nginx.conf: HTTP/1.1 to its unix
                    socket, a keep-alive pool), from the bench-only image (Dockerfile here);
  gunicorn-uwsgi    gunicorn-gthread speaking the uwsgi protocol (gunicorn 24 and later, on
                    Python 3), behind our nginx as uWSGI is (peers-uwsgi-nginx.conf: uwsgi_pass
                    to its unix socket);
  granian           granian alone, on its own port: no nginx in front (Python 3);
  and each --variant NAME:SETTING=VALUE,...: ours with those settings, each an environment
                    variable (UWSGI_PROCESSES=1); written uwsgi.OPTION=VALUE, a line of an
                    app ini given as UWSGI_INI (uwsgi.thunder-lock=true); written
                    nginx.DIRECTIVE=VALUE, a line of http{} in conf.d (nginx.uwsgi_buffering=off);
                    pass=http11: uWSGI's http11-socket where the peers listen, behind the
                    peers' nginx (HTTP/1.1, a keep-alive pool) instead of the uwsgi protocol;
                    image=TAG: ours built otherwise (on another Python, say), in the same run.
                    The image's kept connection to uWSGI is a setting: NGINX_UWSGI_KEEPALIVE=on.
Workloads: hello (/), io (/io, 10 ms of waiting), json (/json, a 4 KB document computed) with
wrk; large (/large, 1 MB) with slow_clients.py, clients reading 256 KB a second each, counted
in MB a second read and the time to the first byte (not for tcp, split and the variants: the
same nginx buffers their answers as ours').
For each workload and connection level the contenders take turns, round after round, so that
the machine's drift affects all of them alike, each loaded alone: the others are paused, and
a turn ends when the contender has served what the load left queued. Every run is bounded in
time.

    python3 tests/bench/bench.py IMAGE --peers-image BENCH_IMAGE [--levels 50,2000]
        [--seconds 6] [--rounds 3] [--workloads hello,io,json,large] [--contenders ...]
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "env"))
import wrk  # noqa: E402
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
LIMIT_PORT = 8081
PEER_PORT = 8082
GRANIAN_PORT = 8083
PEER_SOCKET_PATH = "/run/bench/app.sock"
PEER_SOCKET = "unix:" + PEER_SOCKET_PATH
WORKLOADS = {"hello": "/", "io": "/io", "json": "/json", "large": "/large"}
# Ours with another setting: the slow clients' 1 MB answers are buffered by the same nginx as
# ours', so they are not run there.
VARIANT_WORKLOADS = ("hello", "io", "json")
# The peers behind our nginx over HTTP/1.1, and which Python each runs on (major, minor).
PEERS = {"gunicorn-sync": (2, 7), "gunicorn-gthread": (2, 7), "meinheld": (2, 7), "bjoern": (2, 7),
         "granian-nginx": (3, 10), "gunicorn-uwsgi": (3, 10), "granian": (3, 10)}
# meinheld's last release needs a greenlet that builds on Python 3.9 at the newest.
PEERS_UNTIL = {"meinheld": (3, 9)}
CONTENDERS = ("ours", "reference", "limit", "tcp", "split") + tuple(PEERS)


def docker(*args, check=True):
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True)


def log(message):
    print("==> " + message, file=sys.stderr, flush=True)


def get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except Exception:
        return None


def wait_for_200(url, timeout=60):
    """The body of the first 200 from url, None if none came within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(url)
        if answer and answer[0] == 200:
            return answer[1]
        time.sleep(0.02)
    return None


def first_answer(contender):
    """Its answer to / once it serves; none within a minute: exits with its last log lines."""
    answer = wait_for_200(contender.bridge_url())
    if answer is None:
        logs = docker("logs", "--tail", "5", contender.container, check=False)
        raise SystemExit("%s: no 200 within 60 s; its last lines:\n%s%s" % (contender.name, logs.stdout, logs.stderr))
    return answer


def any_python(hello):
    return re.sub(r"Python \d+\.\d+", "Python X.Y", hello)


def written(workdir, filename, text):
    """A file of the run's, readable by the containers it is mounted into."""
    path = os.path.join(workdir, filename)
    with open(path, "w") as file:
        file.write(text)
    os.chmod(path, 0o644)
    return path


class Contender:
    """One contender: a container (and its sidecars, in its network namespace), the port its
    nginx serves, the workloads it takes."""

    def __init__(self, name, image, run_args, cpus, port=80, command=(), workloads=tuple(WORKLOADS)):
        self.name, self.port, self.image, self.cpus, self.workloads = name, port, image, cpus, workloads
        self.container = "uwsgi-nginx-bench-%s-%s" % (name, uuid.uuid4().hex[:8])
        self.sidecars = []
        docker("run", "--detach", "--name", self.container, "--cpuset-cpus", cpus,
               "--volume", "%s:/bench:ro" % HERE, *run_args, image, *command)
        state = json.loads(docker("inspect", self.container).stdout)[0]
        self.pid = state["State"]["Pid"]
        self.address = state["NetworkSettings"]["IPAddress"]

    def add_sidecar(self, run_args, command, image=None):
        """A container in this one's network namespace, on the same CPUs."""
        self.sidecars.append("%s-%d" % (self.container, len(self.sidecars) + 1))
        docker("run", "--detach", "--name", self.sidecars[-1], "--network", "container:" + self.container,
               "--cpuset-cpus", self.cpus, "--volume", "%s:/bench:ro" % HERE, *run_args, image or self.image,
               *command)

    def url(self, path="/"):
        """Where the load generator, inside the namespace, reaches it."""
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def bridge_url(self, path="/"):
        return "http://%s:%d%s" % (self.address, self.port, path)

    def containers(self):
        return [self.container] + self.sidecars

    def remove(self):
        for container in self.containers():
            docker("rm", "--force", "--volumes", container, check=False)


def cpu_count(cpus):
    """How many CPUs a cpuset list such as 1 or 2-3,5 names."""
    return sum(int(part.split("-")[-1]) - int(part.split("-")[0]) + 1 for part in cpus.split(","))


def peer_command(name, cpus):
    n = cpu_count(cpus)
    gunicorn = ["gunicorn", "--bind", PEER_SOCKET, "--umask", "0", "--chdir", "/bench/app"]
    gthread = gunicorn + ["--worker-class", "gthread", "--workers", str(2 * n + 1), "--threads", "4"]
    granian = ["granian", "--interface", "wsgi", "--workers", str(n)]
    return {
        "gunicorn-sync": gunicorn + ["--workers", str(2 * n + 1), "main:application"],
        "gunicorn-gthread": gthread + ["main:application"],
        "gunicorn-uwsgi": gthread + ["--protocol", "uwsgi", "main:application"],
        "meinheld": gunicorn + ["--worker-class", "egg:meinheld#gunicorn_worker", "--workers", str(n),
                                "main:application"],
        "bjoern": ["python", "/bench/serve_bjoern.py", PEER_SOCKET, str(n)],
        "granian-nginx": granian + ["--uds", PEER_SOCKET_PATH, "--uds-permissions", "438", "main:application"],
        "granian": granian + ["--host", "0.0.0.0", "--port", str(GRANIAN_PORT), "main:application"],
    }[name]


def python_version(image):
    """(major, minor) of the image's Python."""
    output = docker("run", "--rm", "--entrypoint", "python", image, "-c",
                    "import sys; print('%d %d' % sys.version_info[:2])").stdout
    return tuple(int(part) for part in output.split())


def peers_for(version):
    """The peers that run on that Python."""
    return [name for name, since in PEERS.items() if since <= version <= PEERS_UNTIL.get(name, version)]


def start(name, args, workdir, variants, hello):
    """The contender called name, started; hello is the hello world's body, for limit."""
    image, cpus = args.image, args.server_cpus
    app = ["--volume", "%s:/app:ro" % os.path.join(HERE, "app")]
    if name == "ours":
        return Contender(name, image, app, cpus)
    if name in variants:
        return start_variant(name, variants[name], image, cpus, workdir)
    if name == "limit":
        limit_conf = written(workdir, "limit.conf", 'server {\n    listen %d;\n    default_type text/plain;\n'
                             '    location / { return 200 "%s"; }\n}\n' % (LIMIT_PORT, hello.replace('"', '\\"')))
        return Contender(name, image, app + ["--volume", "%s:/etc/nginx/conf.d/limit.conf:ro" % limit_conf],
                         cpus, port=LIMIT_PORT, workloads=("hello",))
    if name == "reference":
        reference_app = os.path.join(workdir, "reference-app")
        shutil.copytree(os.path.join(HERE, "app"), reference_app)
        shutil.copy(os.path.join(HERE, "reference-nginx.conf"), os.path.join(reference_app, "nginx.conf"))
        return Contender(name, image, [
            "--volume", "%s:/app:ro" % reference_app, "--env", "UWSGI_PROCESSES=16", "--env", "UWSGI_CHEAPER=2",
            "--env", "UWSGI_INI=/bench/reference-uwsgi.ini"], cpus)
    if name == "tcp":
        return Contender(name, image, app + ["--env", "UWSGI_SOCKET=127.0.0.1:3031"], cpus,
                         workloads=VARIANT_WORKLOADS)
    if name == "split":
        split = Contender(name, image, app + ["--volume", "/run/uwsgi"], cpus, command=["run-uwsgi"],
                          workloads=VARIANT_WORKLOADS)
        split.add_sidecar(["--volumes-from", split.container], ["run-nginx"])
        return split
    # granian imports the app from its working directory, after the image's own /app (its
    # WORKDIR, where the image's hello world is main.py): it starts in the bench app's.
    if name == "granian":
        return Contender(name, args.peers_image, ["--entrypoint", "", "--workdir", "/bench/app"], cpus,
                         port=GRANIAN_PORT, command=peer_command(name, cpus))
    nginx_conf = "peers-uwsgi-nginx.conf" if name == "gunicorn-uwsgi" else "peers-nginx.conf"
    peer = Contender(name, args.peers_image, [
        "--volume", "/run/bench", "--volume", "%s:/etc/nginx/conf.d/peer.conf:ro" % os.path.join(
            HERE, nginx_conf)], cpus, port=PEER_PORT, command=["run-nginx"])
    peer.add_sidecar(["--volumes-from", peer.container, "--entrypoint", "", "--workdir", "/bench/app"],
                     peer_command(name, cpus), image=args.peers_image)
    return peer


def start_variant(name, settings, image, cpus, workdir):
    """Ours with a variant's settings: environment variables, uwsgi.OPTION lines of an app ini,
    nginx.DIRECTIVE lines of a conf.d file, image=TAG (another build), pass=http11 (uWSGI's
    HTTP/1.1 socket where the peers listen, behind the peers' nginx server)."""
    run_args = ["--volume", "%s:/app:ro" % os.path.join(HERE, "app")]
    options, directives, port = [], [], 80
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.startswith("uwsgi."):
            options.append("%s = %s\n" % (key[len("uwsgi."):], value))
        elif key.startswith("nginx."):
            directives.append("%s %s;\n" % (key[len("nginx."):], value))
        elif setting == "pass=http11":
            options.append("http11-socket = %s\n" % PEER_SOCKET_PATH)
            run_args += ["--volume", os.path.dirname(PEER_SOCKET_PATH),
                         "--volume", "%s:/etc/nginx/conf.d/peer.conf:ro" % os.path.join(HERE, "peers-nginx.conf")]
            port = PEER_PORT
        elif key == "image":
            image = value
        else:
            run_args += ["--env", setting]
    if options:
        ini = written(workdir, name + ".ini", "[uwsgi]\n" + "".join(options))
        run_args += ["--volume", "%s:/bench-variant.ini:ro" % ini, "--env", "UWSGI_INI=/bench-variant.ini"]
    if directives:
        conf = written(workdir, name + ".conf", "".join(directives))
        run_args += ["--volume", "%s:/etc/nginx/conf.d/bench-variant.conf:ro" % conf]
    return Contender(name, image, run_args, cpus, port=port, workloads=VARIANT_WORKLOADS)


@contextlib.contextmanager
def alone(contender, contenders):
    """The other contenders frozen (docker pause) while this one is loaded: idle, their
    processes still wake up now and then on the same CPUs (supervisord, the health checks).
    Unpaused, ours answered 17,500 hello worlds a second at 50 connections with 12 others
    beside it; paused, 32,800 (the run in docs/development.md)."""
    others = [name for other in contenders if other is not contender for name in other.containers()]
    if others:
        docker("pause", *others)
    try:
        yield
        settle(contender)
    finally:
        if others:
            docker("unpause", *others)


def settle(contender, within=0.5, timeout=120):
    """Waits until the contender answers the hello world within half a second: the requests
    wrk left behind (2,000 of them queued at 10 ms each take 20 s to one process) must not be
    served in its next turn."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = time.monotonic()
        answer = get(contender.bridge_url(), timeout=within)
        if answer and answer[0] == 200 and time.monotonic() - started < within:
            return
        time.sleep(0.2)
    raise SystemExit("%s still busy %d s after its load" % (contender.name, timeout))


def load(contender, workload, connections, args):
    """One bounded run of the workload's load generator inside the contender's namespace."""
    prefix = ["nsenter", "--net=/proc/%d/ns/net" % contender.pid, "taskset", "--cpu-list", args.client_cpus]
    url = contender.url(WORKLOADS[workload])
    if workload == "large":
        command = prefix + ["prlimit", "--nofile=20000:20000", sys.executable, os.path.join(HERE, "slow_clients.py"),
                            url, str(connections), str(args.slow_seconds)]
        output = subprocess.run(command, check=True, capture_output=True, text=True,
                                timeout=args.slow_seconds + 60).stdout
        report = json.loads(output.strip().splitlines()[-1])
        # MB a second the clients read (of 2xx answers): at 2,000 clients most answers are
        # still being read when the run ends, so answers whole a second would say little.
        report["ok_per_second"] = report["bytes"] / 1e6 / (report["duration_us"] / 1e6)
        return report
    return wrk.run(url, connections, args.seconds, timeout=args.timeout, threads=cpu_count(args.client_cpus),
                   prefix=prefix)


def rss_kib(container):
    """Sum of the resident set sizes of every process in the container."""
    script = ("import os\nt=0\nfor p in filter(str.isdigit, os.listdir('/proc')):\n"
              "  try: t+=sum(int(l.split()[1]) for l in open('/proc/%s/status' % p) if l.startswith('VmRSS:'))\n"
              "  except (IOError, OSError): pass\nprint(t)\n")
    return int(docker("exec", container, "python", "-c", script).stdout)


def start_to_first_200(image, runs=5):
    times = []
    for _ in range(runs):
        name = "uwsgi-nginx-bench-start-%s" % uuid.uuid4().hex[:8]
        started = time.monotonic()
        docker("run", "--detach", "--name", name, image)
        try:
            address = json.loads(docker("inspect", name).stdout)[0]["NetworkSettings"]["IPAddress"]
            if wait_for_200("http://%s/" % address) is None:
                raise SystemExit("%s: no 200 within 60 s" % image)
            times.append(time.monotonic() - started)
        finally:
            docker("rm", "--force", name, check=False)
    return statistics.median(times)


def image_growth(image, base):
    def size(ref):
        return json.loads(docker("image", "inspect", ref).stdout)[0]["Size"]
    return (size(image) - size(base)) / 1e6


def app_only_rebuild(build_command):
    """Seconds for `docker build` after a change to app/ only, in a copy of the build context."""
    with tempfile.TemporaryDirectory() as context:
        subprocess.run(["git", "-C", REPO, "ls-files", "-z"], check=True, capture_output=True)
        files = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               check=True, capture_output=True).stdout.split(b"\0")
        subprocess.run(["tar", "-C", REPO, "-cf", os.path.join(context, "context.tar"), "--null", "-T", "-"],
                       input=b"\0".join(f for f in files if f), check=True)
        subprocess.run(["tar", "-C", context, "-xf", os.path.join(context, "context.tar")], check=True)
        os.remove(os.path.join(context, "context.tar"))
        tag = "uwsgi-nginx-bench-rebuild:%s" % uuid.uuid4().hex[:8]
        subprocess.run(build_command + ["--tag", tag, context], check=True, capture_output=True)  # warm cache
        with open(os.path.join(context, "app", "main.py"), "a") as main:
            main.write("# changed %s\n" % uuid.uuid4().hex)
        started = time.monotonic()
        subprocess.run(build_command + ["--tag", tag, context], check=True, capture_output=True)
        seconds = time.monotonic() - started
        docker("rmi", "--force", tag, check=False)
        return seconds


def summary(runs):
    """Median and spread of a contender's rounds, with every error counted."""
    rates = [r["ok_per_second"] for r in runs]
    return {"ok_per_second": statistics.median(rates), "min": min(rates), "max": max(rates),
            "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
            "errors": sum(r["socket_errors"] + r["non_2xx_3xx"] for r in runs)}


def table(summaries, levels):
    """A markdown table: a row per workload and contender, columns per connection level. For
    large, ok/s is MB a second read by the slow clients, p99 the time to the first byte."""
    header = "| workload | contender |" + "".join(
        " %d conn ok/s (min-max) | x ours | p99 ms | errors |" % level for level in levels)
    lines = [header, "| --- | --- |" + " ---: | ---: | ---: | ---: |" * len(levels)]
    for workload, by_contender in summaries.items():
        for name in by_contender[str(levels[0])]:
            cells = []
            for level in levels:
                numbers, ours = by_contender[str(level)][name], by_contender[str(level)]["ours"]
                cells.append(" %.0f (%.0f-%.0f) | %s | %.1f | %d |" % (
                    numbers["ok_per_second"], numbers["min"], numbers["max"],
                    "%.2f" % (numbers["ok_per_second"] / ours["ok_per_second"]) if ours["ok_per_second"] else "-",
                    numbers["p99_ms"], numbers["errors"]))
            lines.append("| %s | %s |%s" % (workload, name, "".join(cells)))
    return "\n".join(lines)


def variant_setting_ok(setting):
    key, _, value = setting.partition("=")
    return bool(value) and (key.isupper() or key.startswith(("uwsgi.", "nginx.")) or key == "image"
                            or setting == "pass=http11")


def parse_variants(values):
    variants = {}
    for value in values:
        name, _, settings = value.partition(":")
        if not name or name in CONTENDERS or not all(map(variant_setting_ok, settings.split(","))):
            raise SystemExit("--variant %r: NAME:SETTING=VALUE[,SETTING=VALUE...], NAME not one of %s, each "
                             "SETTING an environment variable, uwsgi.OPTION, nginx.DIRECTIVE, image=TAG "
                             "or pass=http11"
                             % (value, ", ".join(CONTENDERS)))
        variants[name] = settings.split(",")
    return variants


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--peers-image", required=True, help="the bench-only image (tests/bench/Dockerfile)")
    parser.add_argument("--base", help="the base image, for the size difference")
    parser.add_argument("--levels", default="50,2000")
    parser.add_argument("--seconds", type=int, default=6, help="each wrk run")
    parser.add_argument("--slow-seconds", type=int, default=12, help="each slow clients' run")
    parser.add_argument("--timeout", type=int, default=10, help="seconds an answer may take before wrk counts "
                        "an error")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--contenders", help="default: ours, reference, limit, tcp, split and the peers that run "
                        "on the image's Python")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:SETTING=VALUE,...",
                        help="ours with these settings (environment variables, uwsgi.OPTION=VALUE for "
                        "uWSGI options, nginx.DIRECTIVE=VALUE for nginx's http{}, image=TAG for another build of "
                        "ours, pass=http11), as one more contender")
    cpus = os.cpu_count() or 1
    parser.add_argument("--server-cpus", default={1: "0", 2: "1"}.get(cpus, "1-%d" % (cpus - 1)),
                        help="the CPUs every contender runs on (a cpuset list; default all but the first)")
    parser.add_argument("--client-cpus", default="0", help="the CPUs the load generator runs on")
    parser.add_argument("--output", help="where the JSON results go (default results/bench-DATE-COMMIT.json "
                        "in the checkout; a run worth keeping goes beside its page in docs/results)")
    parser.add_argument("--build-command", help="the docker build command line (JSON list) for the rebuild time")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    workloads = args.workloads.split(",")
    variants = parse_variants(args.variant)
    if args.contenders is None:
        args.contenders = ",".join(CONTENDERS[:5] + tuple(peers_for(python_version(args.peers_image))))
    names = [name for name in args.contenders.split(",") if name and name not in variants] + list(variants)
    unknown = [name for name in names if name not in CONTENDERS and name not in variants] + [
        workload for workload in workloads if workload not in WORKLOADS]
    if unknown or "ours" not in names:
        raise SystemExit("unknown contenders or workloads: %s (ours is always one)" % ", ".join(unknown))

    workdir = tempfile.mkdtemp(prefix="uwsgi-nginx-bench-")
    os.chmod(workdir, 0o755)
    contenders = []
    results = {workload: {str(level): {} for level in levels} for workload in workloads}
    try:
        contenders.append(start("ours", args, workdir, variants, None))
        hello = first_answer(contenders[0])
        contenders += [start(name, args, workdir, variants, hello) for name in names if name != "ours"]
        for contender in contenders:
            # The hello world names the Python that answers it (image=TAG may run another).
            if any_python(first_answer(contender)) != any_python(hello):
                raise SystemExit("%s does not answer the hello world" % contender.name)
            # The image's own hello world (/app/main.py) says the same as the bench app's: a
            # contender that imported it instead answers every path so.
            if "io" in contender.workloads and get(contender.bridge_url("/io")) != (200, "waited 10 ms"):
                raise SystemExit("%s does not serve the bench app (tests/bench/app)" % contender.name)
        idle_kib = rss_kib(contenders[0].container)
        for workload in workloads:
            taking = [c for c in contenders if workload in c.workloads]
            for level in levels:
                for round_number in range(args.rounds):
                    for contender in taking[round_number % len(taking):] + taking[:round_number % len(taking)]:
                        with alone(contender, contenders):
                            report = load(contender, workload, level, args)
                        results[workload][str(level)].setdefault(contender.name, []).append(report)
                        log("%-5s %5d connections, round %d, %-16s %8.0f ok/s, p99 %7.1f ms, %d socket errors, "
                            "%d non-2xx" % (workload, level, round_number + 1, contender.name,
                                            report["ok_per_second"], report["p99_us"] / 1000,
                                            report["socket_errors"], report["non_2xx_3xx"]))
    finally:
        for contender in contenders:
            contender.remove()
        shutil.rmtree(workdir, ignore_errors=True)

    summaries = {workload: {level: {name: summary(runs) for name, runs in by_name.items()}
                            for level, by_name in by_level.items()} for workload, by_level in results.items()}
    extras = {"idle_rss_mib": idle_kib / 1024, "start_to_first_200_s": start_to_first_200(args.image)}
    if args.base:
        extras["image_minus_base_mb"] = image_growth(args.image, args.base)
    if args.build_command:
        extras["app_only_rebuild_s"] = app_only_rebuild(json.loads(args.build_command))
    machine = {"cpus": os.cpu_count(), "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
               "model": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                              if line.startswith("model name")), "")}
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    if not args.output:
        args.output = os.path.join(REPO, "results", "bench-%s-%s.json" % (time.strftime("%Y-%m-%d"), commit or "nogit"))
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as output:
        json.dump({"image": args.image, "date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": machine,
                   "seconds": args.seconds, "slow_seconds": args.slow_seconds, "rounds": args.rounds,
                   "variants": variants, "results": results, "summaries": summaries, "extras": extras},
                  output, indent=2, sort_keys=True)

    print("%s, commit %s, %s: contenders on CPUs %s, load on CPUs %s; %d rounds of %d s (slow clients %d s); "
          "medians\n" % (time.strftime("%Y-%m-%d"), commit, machine["model"], args.server_cpus, args.client_cpus,
                          args.rounds, args.seconds, args.slow_seconds))
    print(table(summaries, levels))
    print()
    for key, value in sorted(extras.items()):
        print("- %s: %.2f" % (key, value))
    print("\n(JSON: %s)" % os.path.abspath(args.output))


if __name__ == "__main__":
    main()
