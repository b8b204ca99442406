"""What a start reads from the system and writes to it (roles/entrypoint/files/uwsgi_nginx/system.py),
on files these tests write: the CPU count from cgroup v1 and v2 and from Cpus_allowed_list, the
tmpfiles.d lines, directories made as systemd-tmpfiles makes them, files replaced at once.
Standard library only: runs on Python 3 (make check) and on the image's Python (2.7)."""
import os
import pwd
import stat
import unittest

from support import Files
from uwsgi_nginx import system


class CpusTest(Files):
    def cpus(self, allowed, cgroup_files=None):
        status = self.file("status", "Name:\tpython\nCpus_allowed:\tff\nCpus_allowed_list:\t%s\n" % allowed)
        for name, text in (cgroup_files or {}).items():
            self.file(os.path.join("cgroup", name), text)
        return system.available_cpus(status, os.path.join(self.root, "cgroup"))

    def test_the_cpus_the_process_may_run_on(self):
        self.assertEqual(self.cpus("0-3"), 4)
        self.assertEqual(self.cpus("0-1,4,6-7"), 5)
        self.assertEqual(self.cpus("3"), 1)

    def test_cgroup_v2_limit_rounds_up(self):
        self.assertEqual(self.cpus("0-7", {"cpu.max": "150000 100000\n"}), 2)
        self.assertEqual(self.cpus("0-7", {"cpu.max": "max 100000\n"}), 8)
        self.assertEqual(self.cpus("0-1", {"cpu.max": "400000 100000\n"}), 2)

    def test_cgroup_v1_quota_and_period(self):
        v1 = {"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"}
        self.assertEqual(self.cpus("0-7", v1), 3)
        self.assertEqual(self.cpus("0-7", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}), 8)

    def test_a_tiny_limit_still_counts_one(self):
        self.assertEqual(self.cpus("0-7", {"cpu.max": "1000 100000\n"}), 1)


class NameserversTest(Files):
    def test_the_nameserver_lines_in_their_order(self):
        conf = self.file("resolv.conf", "# Docker\nsearch example\nnameserver 127.0.0.11\noptions ndots:0\n"
                                        "nameserver fd00::1\nnameserver\n")
        self.assertEqual(system.nameservers(conf), ["127.0.0.11", "fd00::1"])
        self.assertEqual(system.nameservers(conf + ".missing"), [])


class TmpfilesTest(Files):
    def test_d_lines_in_file_order_with_dashes_for_what_is_not_given(self):
        self.file("tmpfiles.d/b.conf", "# comment\n\nd /run/b 0700 root root -\n")
        self.file("tmpfiles.d/a.conf", "d /run/a\n")
        self.file("tmpfiles.d/ignored.txt", "x /run/ignored\n")
        self.assertEqual(system.tmpfiles_lines(os.path.join(self.root, "tmpfiles.d")),
                         [("/run/a", "-", "-", "-"), ("/run/b", "0700", "root", "root")])

    def test_other_lines_are_refused(self):
        self.file("tmpfiles.d/x.conf", "L /run/link - - - - /target\n")
        with self.assertRaises(system.NotPrepared) as raised:
            system.tmpfiles_lines(os.path.join(self.root, "tmpfiles.d"))
        self.assertIn("only d (directory) and Z (owner, recursively) lines are supported", str(raised.exception))

    def test_directories_are_made_with_their_mode(self):
        made = os.path.join(self.root, "run", "made")
        existing = os.path.join(self.root, "run", "existing")
        os.makedirs(existing)
        os.chmod(existing, 0o777)
        user = "root" if os.geteuid() == 0 else "-"
        self.file("tmpfiles.d/x.conf", "d %s 0750 %s %s -\nd %s 0700\n" % (made, user, user, existing))
        system.make_directories(os.path.join(self.root, "tmpfiles.d"))
        self.assertEqual(stat.S_IMODE(os.stat(made).st_mode), 0o750)
        self.assertEqual(stat.S_IMODE(os.stat(existing).st_mode), 0o700)

    def test_z_lines_give_a_tree_to_its_user_and_leave_d_lines_alone(self):
        tree = os.path.join(self.root, "data")
        self.file("data/app.db", "made by the hook, as root")
        self.file("data/uploads/a.png", "")
        self.file("tmpfiles.d/x.conf", "d %s 0750 - -\nZ %s - nobody nogroup -\n" % (tree, tree))
        tmpfiles = os.path.join(self.root, "tmpfiles.d")
        self.assertEqual(system.tmpfiles_lines(tmpfiles), [(tree, "0750", "-", "-")])
        self.assertEqual(system.tmpfiles_lines(tmpfiles, "Z"), [(tree, "-", "nobody", "nogroup")])
        if os.geteuid() != 0:
            self.skipTest("only root gives files away")
        system.own_trees(tmpfiles)
        nobody = pwd.getpwnam("nobody").pw_uid
        for path in ("data", "data/app.db", "data/uploads", "data/uploads/a.png"):
            self.assertEqual(os.lstat(os.path.join(self.root, path)).st_uid, nobody, path)

    def test_as_another_user_a_mounted_directory_it_may_write_is_used_as_it_is(self):
        """Kubernetes' emptyDir as a user other than root: root's, mode 0777, where the line says
        0750. One it may not write is named."""
        if os.geteuid() != 0:
            self.skipTest("root makes the directories another user then meets")
        mounted, closed = os.path.join(self.root, "mounted"), os.path.join(self.root, "closed")
        for path, mode in ((mounted, 0o777), (closed, 0o755)):
            os.makedirs(path)
            os.chmod(path, mode)
        os.chmod(self.root, 0o755)
        for path in (mounted, closed):
            self.file("%s.d/x.conf" % path, "d %s 0750 - -\n" % path)
        self.assertEqual(self.as_nobody(lambda: system.make_directories(mounted + ".d")), "")
        self.assertEqual(stat.S_IMODE(os.stat(mounted).st_mode), 0o777)
        self.assertEqual(self.as_nobody(lambda: system.make_directories(closed + ".d")),
                         "cannot prepare %s: Operation not permitted" % closed)

    def as_nobody(self, function):
        """What function raises (its message's first part), run in a child process as nobody."""
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(reader)
            message = ""
            try:
                os.setgid(pwd.getpwnam("nobody").pw_gid)
                os.setuid(pwd.getpwnam("nobody").pw_uid)
                function()
            except Exception as error:  # reported to the parent, which asserts on it
                message = str(error).split(" (as uid")[0]
            os.write(writer, message.encode("utf-8"))
            os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as output:
            message = output.read().decode("utf-8")
        os.waitpid(child, 0)
        return message

    def test_a_directory_that_cannot_be_made_is_named(self):
        blocker = self.file("blocker", "a file where a directory should be")
        self.file("tmpfiles.d/x.conf", "d %s/sub\n" % blocker)
        with self.assertRaises(system.NotPrepared) as raised:
            system.make_directories(os.path.join(self.root, "tmpfiles.d"))
        self.assertIn("cannot prepare %s/sub" % blocker, str(raised.exception))


class WriteTest(Files):
    def test_a_file_is_replaced_at_once_and_readable(self):
        path = self.file("nginx.conf", "old")
        system.write(path, u"new \u00e9\n")
        with open(path, "rb") as written:
            self.assertEqual(written.read(), u"new \u00e9\n".encode("utf-8"))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644)
        self.assertEqual(os.listdir(self.root), ["nginx.conf"])

    def test_a_file_that_cannot_be_written_is_named_and_nothing_is_left(self):
        with self.assertRaises(system.NotPrepared) as raised:
            system.write(os.path.join(self.root, "missing", "nginx.conf"), u"text")
        self.assertIn("cannot write %s/missing/nginx.conf" % self.root, str(raised.exception))
        self.assertEqual(os.listdir(self.root), [])


if __name__ == "__main__":
    unittest.main()
