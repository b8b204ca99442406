"""`make bench`: the image under load, against the reference configuration and the ceiling of
this stack on this machine, in one run. Not a pass/fail test: it prints a markdown table and
writes the numbers as JSON.

Contenders, all from the same image, each in its own container, loaded on its address on
Docker's bridge (no userland proxy in between):
  ours       the image's defaults;
  reference  tiangolo/uwsgi-nginx's defaults through the image's own configuration surface:
             uWSGI processes 16 with cheaper 2, listen backlog 100 and a log line per
             request (settings and an app uwsgi.ini), nginx 1 worker x 1024 connections
             logging each request at once (reference-nginx.conf as /app/nginx.conf);
  limit      the same container as ours, with nginx answering the same body itself on a
             second port (a conf.d server, the user's extension point), i.e. no uWSGI;
  tcp        ours with uWSGI on loopback TCP (UWSGI_SOCKET=127.0.0.1:3031), not a unix socket;
  split      run-nginx and run-uwsgi in two containers sharing one network namespace and the
             directory of uWSGI's unix sockets (as the Kubernetes split overlay's pod), with no
             limits: they share the machine as ours' processes do.
For each connection level the contenders take turns, round after round, so that the machine's
drift affects all of them alike. wrk runs a fixed time per turn; everything is bounded.

    python3 tests/bench/bench.py IMAGE [--levels 50,500,2000] [--seconds 10] [--rounds 2]
"""
import argparse
import json
import os
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(url)
        if answer and answer[0] == 200:
            return answer[1]
        time.sleep(0.02)
    raise SystemExit("no 200 from %s within %d s" % (url, timeout))


class Contender:
    def __init__(self, name, image, run_args, port=80, command=()):
        self.name, self.port, self.image = name, port, image
        self.container = "uwsgi-nginx-bench-%s-%s" % (name, uuid.uuid4().hex[:8])
        docker("run", "--detach", "--name", self.container, *run_args, image, *command)
        self.sidecars = []
        self.address = json.loads(docker("inspect", self.container).stdout)[0]["NetworkSettings"]["IPAddress"]
        self.url = "http://%s:%d/" % (self.address, port)

    def add_sidecar(self, run_args, command):
        """A container of the same image in this one's network namespace."""
        self.sidecars.append("%s-%d" % (self.container, len(self.sidecars) + 1))
        docker("run", "--detach", "--name", self.sidecars[-1], "--network", "container:" + self.container,
               *run_args, self.image, *command)

    def remove(self):
        for container in self.sidecars + [self.container]:
            docker("rm", "--force", "--volumes", container, check=False)


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
            wait_for_200("http://%s/" % address)
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


def table(results, levels):
    lines = ["| connections | contender | ok req/s | p50 ms | p99 ms | socket errors | non-2xx |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for level in levels:
        for name, runs in results[str(level)].items():
            lines.append("| %d | %s | %.0f | %.1f | %.1f | %d | %d |" % (
                level, name, statistics.mean(r["ok_per_second"] for r in runs),
                statistics.median(r["p50_us"] for r in runs) / 1000,
                max(r["p99_us"] for r in runs) / 1000,
                sum(r["socket_errors"] for r in runs), sum(r["non_2xx_3xx"] for r in runs)))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--base", help="the base image, for the size difference")
    parser.add_argument("--levels", default="50,500,2000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=os.path.join(
        os.environ.get("UWSGI_NGINX_STATE_DIR", "/var/tmp/uwsgi-nginx-test"), "bench-results.json"))
    parser.add_argument("--build-command", help="the docker build command line (JSON list) for the rebuild time")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    workdir = tempfile.mkdtemp(prefix="uwsgi-nginx-bench-")
    os.chmod(workdir, 0o755)
    contenders = []
    try:
        ours = Contender("ours", args.image, [])
        contenders.append(ours)
        body = wait_for_200(ours.url)
        limit_conf = os.path.join(workdir, "limit.conf")
        with open(limit_conf, "w") as conf:
            conf.write('server {\n    listen %d;\n    default_type text/plain;\n'
                       '    location / { return 200 "%s"; }\n}\n' % (LIMIT_PORT, body.replace('"', '\\"')))
        os.chmod(limit_conf, 0o644)
        contenders.append(Contender("limit", args.image, [
            "--volume", "%s:/etc/nginx/conf.d/limit.conf:ro" % limit_conf], port=LIMIT_PORT))
        contenders.append(Contender("reference", args.image, [
            "--env", "UWSGI_PROCESSES=16", "--env", "UWSGI_CHEAPER=2",
            "--env", "UWSGI_INI=/bench/reference-uwsgi.ini", "--volume", "%s:/bench:ro" % HERE,
            "--volume", "%s:/app/nginx.conf:ro" % os.path.join(HERE, "reference-nginx.conf")]))
        contenders.append(Contender("tcp", args.image, ["--env", "UWSGI_SOCKET=127.0.0.1:3031"]))
        split = Contender("split", args.image, ["--volume", "/run/uwsgi"], command=["run-uwsgi"])
        split.add_sidecar(["--volumes-from", split.container], ["run-nginx"])
        contenders.append(split)
        for contender in contenders:
            assert wait_for_200(contender.url) == body, contender.name
        idle_kib = rss_kib(ours.container)

        results = {str(level): {c.name: [] for c in contenders} for level in levels}
        for level in levels:
            for round_number in range(args.rounds):
                order = contenders[round_number % len(contenders):] + contenders[:round_number % len(contenders)]
                for contender in order:
                    report = wrk.run(contender.url, level, args.seconds)
                    results[str(level)][contender.name].append(report)
                    log("%5d connections, round %d, %-9s %8.0f ok/s, p99 %6.1f ms, %d socket errors, %d non-2xx" % (
                        level, round_number + 1, contender.name, report["ok_per_second"], report["p99_us"] / 1000,
                        report["socket_errors"], report["non_2xx_3xx"]))
    finally:
        for contender in contenders:
            contender.remove()

    extras = {"idle_rss_mib": idle_kib / 1024, "start_to_first_200_s": start_to_first_200(args.image)}
    if args.base:
        extras["image_minus_base_mb"] = image_growth(args.image, args.base)
    if args.build_command:
        extras["app_only_rebuild_s"] = app_only_rebuild(json.loads(args.build_command))
    def mean(level, name):
        return statistics.mean(r["ok_per_second"] for r in results[str(level)][name])
    ratios = {}
    for level in levels:
        ratios[str(level)] = {"ours/reference": mean(level, "ours") / max(mean(level, "reference"), 1e-9),
                              "ours/limit": mean(level, "ours") / max(mean(level, "limit"), 1e-9),
                              "tcp/ours": mean(level, "tcp") / max(mean(level, "ours"), 1e-9),
                              "split/ours": mean(level, "split") / max(mean(level, "ours"), 1e-9)}
    with open(args.output, "w") as output:
        json.dump({"image": args.image, "seconds": args.seconds, "rounds": args.rounds, "results": results,
                   "ratios": ratios, "extras": extras}, output, indent=2, sort_keys=True)

    print(table(results, levels))
    print()
    names = ["ours/reference", "ours/limit", "tcp/ours", "split/ours"]
    print("| connections | %s |" % " | ".join(name.replace("/", " / ") for name in names))
    print("| ---: |" + " ---: |" * len(names))
    for level in levels:
        print("| %d | %s |" % (level, " | ".join("%.2f" % ratios[str(level)][name] for name in names)))
    print()
    for key, value in sorted(extras.items()):
        print("- %s: %.2f" % (key, value))
    print("\n(JSON: %s)" % os.path.abspath(args.output))


if __name__ == "__main__":
    main()
