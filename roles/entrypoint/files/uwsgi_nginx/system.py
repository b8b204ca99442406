"""What a start reads from the system and writes to it: the CPUs the container may use, the
directories the tmpfiles.d files describe, files replaced at once. Every path is a parameter,
so that each can be tried on files a test writes. Python 2.7 and 3."""
import errno
import grp
import math
import os
import pwd
import stat


class NotPrepared(Exception):
    """Something the start cannot do; the message says what and why."""


def words(path):
    """The words of a small file, or [] when there is none (a cgroup version not mounted)."""
    try:
        with open(path) as words_file:
            return words_file.read().split()
    except (IOError, OSError):
        return []


def cgroup_cpu_limit(cgroup_root="/sys/fs/cgroup"):
    """The CPUs' worth of time the container's cgroup may use (docker run --cpus), or None:
    cgroup v2's cpu.max ("max 100000": none), else v1's CFS quota and period (-1: none)."""
    quota_period = words(os.path.join(cgroup_root, "cpu.max")) or (
        words(os.path.join(cgroup_root, "cpu", "cpu.cfs_quota_us"))
        + words(os.path.join(cgroup_root, "cpu", "cpu.cfs_period_us")))
    if len(quota_period) != 2 or quota_period[0] in ("max", "-1"):
        return None
    return float(quota_period[0]) / float(quota_period[1])


def allowed_cpus(status_path="/proc/self/status"):
    """The CPUs this process may run on (docker run --cpuset-cpus): Cpus_allowed_list, e.g. 0-3,6."""
    with open(status_path) as status:
        [allowed] = [line.split(":", 1)[1].strip() for line in status if line.startswith("Cpus_allowed_list:")]
    total = 0
    for cpus in allowed.split(","):
        first, _, last = cpus.partition("-")
        total += int(last or first) - int(first) + 1
    return total


def available_cpus(status_path="/proc/self/status", cgroup_root="/sys/fs/cgroup"):
    """The CPUs this container may use: those it may run on, fewer under a CPU limit (--cpus,
    rounded up); at least 1."""
    total = allowed_cpus(status_path)
    limit = cgroup_cpu_limit(cgroup_root)
    if limit:
        total = min(total, int(math.ceil(limit)))
    return max(total, 1)


def nameservers(resolv_conf="/etc/resolv.conf"):
    """The resolvers /etc/resolv.conf names, as Ansible's dns fact has them."""
    try:
        with open(resolv_conf) as conf:
            return [fields[1] for fields in (line.split() for line in conf)
                    if len(fields) >= 2 and fields[0] == "nameserver"]
    except (IOError, OSError):
        return []


def tmpfiles_lines(tmpfiles_dir, kind="d"):
    """[(path, mode, user, group)] of the lines of one kind of the *.conf files in tmpfiles_dir,
    in the files' order; "-" for a mode, user or group that is not given. "d": a directory to
    create; "Z": a tree whose owner to set, recursively. Other kinds are refused."""
    found = []
    for name in sorted(os.listdir(tmpfiles_dir)):
        if not name.endswith(".conf"):
            continue
        with open(os.path.join(tmpfiles_dir, name)) as tmpfiles:
            lines = [line.split() for line in tmpfiles if line.strip() and not line.lstrip().startswith("#")]
        for fields in lines:
            line_kind, path, mode, user, group = (fields + ["-"] * 5)[:5]
            if line_kind not in ("d", "Z"):
                raise NotPrepared("%s/%s: %s: only d (directory) and Z (owner, recursively) lines are supported" % (
                    tmpfiles_dir, name, " ".join(fields)))
            if line_kind == kind:
                found.append((path, mode, user, group))
    return found


def ids(user, group, unset):
    """The user and group ids of a tmpfiles.d line's names; unset for "-"."""
    return (pwd.getpwnam(user).pw_uid if user != "-" else unset,
            grp.getgrnam(group).gr_gid if group != "-" else unset)


def own_trees(tmpfiles_dir):
    """As root, gives every file and directory below the "Z" lines' paths that is not yet theirs
    to their user and group (the mode is left as it is; links are not followed): what the
    prestart hook made there, as root, becomes the app's. Returns a line for each tree where
    that failed (a read-only mount), which is left as it is."""
    failures = []
    if os.geteuid() != 0:
        return failures
    for path, _, user, group in tmpfiles_lines(tmpfiles_dir, "Z"):
        owner = ids(user, group, -1)  # -1: lchown leaves it
        try:
            for directory, subdirectories, files in os.walk(path):
                for name in [directory] + [os.path.join(directory, entry) for entry in subdirectories + files]:
                    status = os.lstat(name)
                    if (owner[0] not in (-1, status.st_uid)) or (owner[1] not in (-1, status.st_gid)):
                        os.lchown(name, *owner)
        except OSError as error:
            failures.append("cannot give %s to %s:%s: %s" % (error.filename or path, user, group, error.strerror))
    return failures


def make_directories(tmpfiles_dir):
    """Creates the tmpfiles.d directories, as systemd-tmpfiles does at boot on a host, with their
    mode and, as root, their owner; as another user, that user's (who needs /run writable: in
    group 0, which may write the image's /run and a tmpfs mounted there, or with a tmpfs of its
    own there). As another user, a directory already there that is someone else's but this
    user may write (a volume mounted there: Kubernetes' emptyDir, anyone's to write) is used as
    it is."""
    as_root = os.geteuid() == 0
    for path, mode, user, group in tmpfiles_lines(tmpfiles_dir):
        mode = int(mode, 8) if mode != "-" else 0o755
        owner = ids(user, group, 0)
        try:
            # Only what differs changes, mode first, while the owner may still be root: neither
            # needs more than CAP_CHOWN (no CAP_FOWNER).
            if not os.path.isdir(path):
                os.makedirs(path)
            status = os.stat(path)
            others_writable = not as_root and status.st_uid != os.geteuid() and os.access(path, os.W_OK | os.X_OK)
            if stat.S_IMODE(status.st_mode) != mode and not others_writable:
                os.chmod(path, mode)
            if as_root and (status.st_uid, status.st_gid) != owner:
                os.chown(path, *owner)
        except OSError as error:
            user, group = os.geteuid(), os.getegid()
            hint = "" if as_root else (
                " (as uid %d, group %d: run in group 0, which may write /run, --user %d:0, or mount "
                "a tmpfs it owns at /run, --tmpfs /run:uid=%d)" % (user, group, user, user))
            raise NotPrepared("cannot prepare %s: %s%s" % (path, error.strerror, hint))


def write(path, content):
    """Replaces path at once: a reader sees the old file or the new one, never a mix."""
    partial = path + ".partial"
    try:
        with open(partial, "wb") as output:
            output.write(content.encode("utf-8"))
        os.chmod(partial, 0o644)
        os.rename(partial, path)
    except (IOError, OSError) as error:
        if os.path.exists(partial):
            os.remove(partial)
        hint = " (a tmpfs there needs more room: --tmpfs %s:size=...)" % os.path.dirname(path) \
            if error.errno == errno.ENOSPC else ""
        raise NotPrepared("cannot write %s: %s%s" % (path, error.strerror, hint))
