"""A container a test started, as the tests ask it things: its port, address, health,
answers, processes, memory, logs."""
import json
import re

from harness.docker_client import docker
from harness.waits import http_get, wait_for

# A program of another architecture runs under binfmt_misc's qemu, whose command line (in /proc)
# is the interpreter's path, the program's path, then the program's own arguments.
EMULATOR = re.compile(r"^\S*/qemu-\S+ \S+ ")


# What fetch_inside runs: the URL and the headers (JSON) as arguments, the body on stdout.
FETCH_INSIDE = """
import json, sys
try:
    from urllib.request import Request, urlopen
except ImportError:
    from urllib2 import Request, urlopen
request = Request(sys.argv[1], headers=json.loads(sys.argv[2]))
sys.stdout.write(urlopen(request, timeout=10).read().decode("utf-8"))
"""


class Container:
    def __init__(self, name, container_port=80):
        self.name = name
        self.container_port = container_port

    @property
    def port(self):
        return self.port_of(self.container_port)

    def port_of(self, container_port):
        """The port on 127.0.0.1 Docker published container_port on."""
        output = docker("port", self.name, "%d/tcp" % container_port).stdout.strip().splitlines()[0]
        return int(output.rsplit(":", 1)[1])

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ip(self):
        """The container's address on Docker's bridge (no userland proxy in between)."""
        return self.inspect()["NetworkSettings"]["IPAddress"]

    def health(self):
        return self.inspect()["State"].get("Health", {}).get("Status")

    def get(self, path="/"):
        return http_get(self.url + path)

    def wait_until_serving(self, timeout=30):
        def answered():
            if not self.running():
                raise AssertionError("container exited:\n" + self.logs())
            response = self.get()
            return response if response and response[0] == 200 else None
        return wait_for(answered, timeout, message="HTTP 200 from %s" % self.name)

    def running(self):
        return self.inspect()["State"]["Running"]

    def inspect(self):
        return json.loads(docker("inspect", self.name).stdout)[0]

    def processes(self):
        """Every process in the container but the reader: (pid, parent pid, user id, command
        line), read from /proc with the image's own Python; under qemu, the command line without
        the emulator's prefix (EMULATOR)."""
        script = (
            "import os\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    if int(pid) == os.getpid():\n"
            "        continue\n"
            "    try:\n"
            "        ppid = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()[1]\n"
            "        uid = [l.split()[1] for l in open('/proc/%s/status' % pid) if l.startswith('Uid:')][0]\n"
            "        cmd = open('/proc/%s/cmdline' % pid).read().replace('\\0', ' ').strip()\n"
            "    except (IOError, OSError):\n"
            "        continue\n"
            "    print('%s\\t%s\\t%s\\t%s' % (pid, ppid, uid, cmd))\n"
        )
        rows = []
        for line in self.exec("python", "-c", script).stdout.splitlines():
            pid, ppid, uid, cmd = line.split("\t", 3)
            rows.append((int(pid), int(ppid), uid, EMULATOR.sub("", cmd)))
        return rows

    def nginx_workers(self, table=None):
        """The rows of processes() that are nginx's workers: the children of nginx's master.
        Told by their parent, not by their title (`nginx: worker process`), which a program
        under qemu sets in its own copy of its arguments, not in what /proc shows."""
        table = self.processes() if table is None else table
        nginx = {pid for pid, _, _, cmd in table if cmd.startswith("nginx:") or cmd.split(" ", 1)[0].endswith("/nginx")}
        return [row for row in table if row[0] in nginx and row[1] in nginx]

    def rss_kib(self):
        """Resident memory of every process in the container but the reader, summed, in KiB."""
        script = (
            "import os\n"
            "total = 0\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        if int(pid) != os.getpid():\n"
            "            for line in open('/proc/%s/status' % pid):\n"
            "                if line.startswith('VmRSS:'):\n"
            "                    total += int(line.split()[1])\n"
            "    except (IOError, OSError):\n"
            "        pass\n"
            "print(total)\n"
        )
        return int(self.exec("python", "-c", script).stdout)

    def exec(self, *command, check=True):
        return docker("exec", self.name, *command, check=check)

    def fetch_inside(self, url, headers=None):
        """The body of a GET of url from inside the container (its loopback, say), by the image's
        own Python, 2.7 or 3."""
        return self.exec("python", "-c", FETCH_INSIDE, url, json.dumps(headers or {})).stdout

    def logs(self):
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_exit(self, timeout):
        """Wait for the container to stop; returns its exit code."""
        wait_for(lambda: not self.running(), timeout, message="%s to exit" % self.name)
        return self.inspect()["State"]["ExitCode"]
