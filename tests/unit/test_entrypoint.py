"""The start sequence (roles/entrypoint/files/uwsgi_nginx/entrypoint.py) on a configuration these
tests write: the prestart hook's interpreter, the paths checked before and after it, rendering
with the contract's filters and the two facts, validation, replacements, the health probe's URL,
and what reaches the programs' environment; then main() as the container runs it, in a child
process. Needs Jinja2 (the image has it; so has the tests' virtualenv, through Ansible).
Standard library otherwise: runs on Python 3 (make check) and on the image's Python (2.7)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from support import PACKAGE_PATHS
from uwsgi_nginx import entrypoint

TEMPLATE = """# {{ ansible_managed }}
workers = {{ uwsgi_processes | uwsgi_nginx_count('uwsgi_processes', ansible_facts.processor_vcpus) }}
{% if ansible_facts.effective_user_id == 0 %}
uid = app
{% endif %}
static = {{ nginx_static_path }}
"""


class Configured(unittest.TestCase):
    """A configuration as the entrypoint role writes one, on files in a temporary directory."""

    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        for directory in ("templates", "tmpfiles.d", "app"):
            os.makedirs(self.path(directory))
        self.write("templates/app.conf.j2", TEMPLATE)
        self.write("tmpfiles.d/state.conf", "d %s 0755\n" % self.path("state"))
        self.config = {
            "command": "run-programs", "programs": [{"name": "uwsgi", "command": "true"}],
            "state_dir": self.path("state"), "template_dir": self.path("templates"),
            "tmpfiles_dir": self.path("tmpfiles.d"), "replacements": {"/etc/app.conf": self.path("app/app.conf")},
            "templates": [{"role": "uwsgi", "template": "app.conf.j2", "dest": "/etc/app.conf",
                           "validate": ["true", "%s"]}],
            "healthcheck_url": "http://127.0.0.1:{nginx_listen_port}/health",
            "nginx_alive_url": "http://127.0.0.1:{nginx_listen_port}/alive",
            "nginx_status_url": "http://127.0.0.1:{nginx_listen_port}/status",
            "variables": {"uwsgi_processes": "auto", "nginx_listen_port": 80, "uwsgi_socket": "/run/uwsgi/uwsgi.sock",
                          "nginx_static_path": self.path("app/static"),
                          "entrypoint_prestart_script": self.path("app/prestart.sh")},
        }

    def path(self, relative):
        return os.path.join(self.root, relative)

    def write(self, relative, text, mode=0o644):
        with open(self.path(relative), "w") as output:
            output.write(text)
        os.chmod(self.path(relative), mode)

    def read(self, relative):
        with open(self.path(relative)) as written:
            return written.read()



class StartTest(Configured):
    def start(self, environ=None, cpus=2, user_id=0):
        return entrypoint.start(self.config, environ or {}, cpus, user_id)[0]

    def test_renders_with_the_contracts_count_and_the_facts(self):
        self.start(cpus=3)
        self.assertEqual(self.read("state/app.conf"),
                         "# %s\nworkers = 6\nuid = app\nstatic = \n" % entrypoint.MANAGED)
        self.start({"UWSGI_PROCESSES": "5"}, user_id=1000)
        self.assertEqual(self.read("state/app.conf").splitlines()[1:], ["workers = 5", "static = "])
        self.assertEqual(self.read("state/healthcheck-url"), "http://127.0.0.1:80/health\n")
        self.start({"LISTEN_PORT": "8080"})
        self.assertEqual(self.read("state/healthcheck-url"), "http://127.0.0.1:8080/health\n")
        self.assertEqual(self.read("state/nginx-alive-url"), "http://127.0.0.1:8080/alive\n")

    def test_one_program_alone_renders_its_roles_templates_and_checks_its_settings(self):
        self.config["templates"].append({"role": "nginx", "template": "app.conf.j2", "dest": "/etc/nginx.conf"})
        entrypoint.start(self.config, {"UWSGI_PROCESSES": "x", "LISTEN_PORT": "81"}, 1, 0, "nginx")
        self.assertEqual(sorted(os.listdir(self.path("state"))),
                         ["drain-seconds", "healthcheck-url", "nginx-alive-url", "nginx.conf"])
        self.assertEqual(self.read("state/healthcheck-url"), "http://127.0.0.1:81/health\n")
        with self.assertRaises(entrypoint.Stop):
            entrypoint.start(self.config, {"UWSGI_PROCESSES": "x"}, 1, 0, "uwsgi")

    def test_uwsgi_alone_is_probed_at_its_socket(self):
        entrypoint.start(self.config, {}, 1, 0, "uwsgi")
        self.assertEqual(self.read("state/healthcheck-url"), "uwsgi://unix:/run/uwsgi/uwsgi.sock:/health\n")
        self.assertFalse(os.path.exists(self.path("state/nginx-alive-url")))
        entrypoint.start(self.config, {"UWSGI_SOCKET": ":3031"}, 1, 0, "uwsgi")
        self.assertEqual(self.read("state/healthcheck-url"), "uwsgi://127.0.0.1:3031/health\n")

    def test_metrics_read_the_programs_of_this_container_and_never_share_their_port(self):
        self.config["variables"].update(uwsgi_user="app", uwsgi_stats_socket="/run/uwsgi/stats.sock",
                                        entrypoint_metrics_port=0)
        self.assertEqual(entrypoint.start(self.config, {}, 1, 0)[1], None)
        self.assertEqual(entrypoint.start(self.config, {"METRICS_PORT": "9117"}, 1, 0)[1], {
            "port": 9117, "nginx": "http://127.0.0.1:80/status", "uwsgi": "/run/uwsgi/stats.sock", "user": "app"})
        self.assertEqual(entrypoint.start(self.config, {"METRICS_PORT": "9117"}, 1, 1000, "nginx")[1], {
            "port": 9117, "nginx": "http://127.0.0.1:80/status", "uwsgi": None, "user": None})
        self.assertEqual(entrypoint.start(self.config, {"METRICS_PORT": "9117"}, 1, 0, "uwsgi")[1]["nginx"], None)
        for environ, program, taken in [({"METRICS_PORT": "80"}, None, "LISTEN_PORT"),
                                        ({"METRICS_PORT": "3031", "UWSGI_SOCKET": ":3031"}, "uwsgi", "UWSGI_SOCKET")]:
            with self.assertRaises(entrypoint.Stop) as raised:
                entrypoint.start(self.config, environ, 1, 0, program)
            self.assertEqual(str(raised.exception), "uwsgi-nginx-entrypoint: METRICS_PORT=%s: expected a port other "
                             "than %s's: the metrics are never served on another program's port"
                             % (environ["METRICS_PORT"], taken))
        # 80 is nginx's, which a uWSGI container does not run.
        self.assertEqual(entrypoint.start(self.config, {"METRICS_PORT": "80"}, 1, 0, "uwsgi")[1]["port"], 80)

    def test_a_bad_setting_stops_before_anything_is_written(self):
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start({"LISTEN_PORT": "0", "UWSGI_PROCESSES": "x"})
        self.assertEqual(str(raised.exception).splitlines(), [
            'uwsgi-nginx-entrypoint: UWSGI_PROCESSES="x": expected a whole number from 1 to 1024 or auto',
            'uwsgi-nginx-entrypoint: LISTEN_PORT="0": expected a whole number from 1 to 65535'])
        self.assertFalse(os.path.exists(self.path("state")))

    def test_a_file_the_build_wrote_changed_since_stops_the_start_of_its_program_naming_it(self):
        """tiangolo/uwsgi-nginx's /etc/uwsgi/uwsgi.ini copied over the build's: no program reads it."""
        self.write("built.conf", "# as the build wrote it\n")
        self.config["templates"][0].update(dest=self.path("built.conf"), unread_hint="use /app/app.conf")
        self.config["built_files"] = {self.path("built.conf"): entrypoint.sha256(self.path("built.conf"))}
        self.start()
        self.write("built.conf", "[uwsgi]\nsocket = /tmp/uwsgi.sock\n")
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertEqual(str(raised.exception), (
            "uwsgi-nginx-entrypoint: %s: not the file this image was built with, and no program reads it (they "
            "read %s, written at every start): use /app/app.conf"
            % (self.path("built.conf"), self.path("state/built.conf"))))
        # nginx alone reads nothing of uWSGI's; a file the build did not write is no one's business.
        entrypoint.start(self.config, {}, 1, 0, "nginx")
        self.config["built_files"] = {self.path("built.conf"): ""}
        self.start()

    def test_a_file_an_unread_pattern_matches_stops_the_command_of_every_program(self):
        """tiangolo/uwsgi-nginx's /etc/supervisor/conf.d/*.conf: run-NAME runs no supervisord."""
        os.makedirs(self.path("conf.d"))
        self.config["unread_files"] = [{"path": self.path("conf.d/*.conf"), "hint": "run it in a container"}]
        self.write("conf.d/README", "not a .conf\n")
        self.start()
        self.write("conf.d/worker.conf", "[program:worker]\n")
        self.write("conf.d/beat.conf", "[program:beat]\n")
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertEqual(str(raised.exception).splitlines(), [
            "uwsgi-nginx-entrypoint: %s: run it in a container" % self.path("conf.d/" + name)
            for name in ("beat.conf", "worker.conf")])
        entrypoint.start(self.config, {}, 1, 0, "uwsgi")

    def test_the_prestart_hook_runs_first_and_may_make_what_the_defaults_name(self):
        self.write("app/prestart.sh", "mkdir %s\n" % self.path("app/static"))
        self.start()
        self.assertIn("static = %s\n" % self.path("app/static"), self.read("state/app.conf"))

    def test_a_named_path_must_exist_a_default_one_may_not(self):
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start({"STATIC_PATH": self.path("missing")})
        self.assertEqual(str(raised.exception), 'uwsgi-nginx-entrypoint: STATIC_PATH="%s": expected an existing '
                                                'directory' % self.path("missing"))
        with self.assertRaises(entrypoint.Stop):
            self.start({"PRE_START_PATH": self.path("app/missing.sh")})

    def test_a_shell_hook_is_sourced_and_what_it_exports_reaches_the_programs(self):
        self.write("app/prestart.sh", "export DATABASE_URL=sqlite:////data/app.db\nexport PATH=\"$PATH:/opt/bin\"\n"
                                      "UNEXPORTED=1\nexit 0\n")
        kept = self.start({"PATH": "/usr/bin:/bin", "HOME": "/root"})
        self.assertEqual(kept, {"PATH": "/usr/bin:/bin:/opt/bin", "HOME": "/root",
                                "DATABASE_URL": "sqlite:////data/app.db"})
        self.assertEqual(sorted(os.listdir(self.path("state"))),
                         ["app.conf", "drain-seconds", "healthcheck-url", "nginx-alive-url"])

    def test_a_hook_in_another_language_runs_as_a_child(self):
        self.write("app/prestart.sh", "#!%s\nimport os\nos.environ['LOST'] = '1'\n" % sys.executable)
        self.assertNotIn("LOST", self.start({"HOME": "/root"}))

    def test_the_app_ini_that_loads_the_app_leaves_out_the_images_module(self):
        self.write("app/uwsgi.ini", "[uwsgi]\nwsgi-file = /srv/app.py\n")
        variables = {"uwsgi_module": "main", "uwsgi_callable": "application", "uwsgi_app_dir": self.path("app"),
                     "uwsgi_app_ini": self.path("app/uwsgi.ini")}
        entrypoint.fit_the_app(variables)
        self.assertEqual(variables["uwsgi_module"], "")

    def test_a_module_with_app_only_is_served_by_app(self):
        self.write("app/main.py", "from flask import Flask\napp = Flask(__name__)\n")
        variables = {"uwsgi_module": "main", "uwsgi_callable": "application", "uwsgi_app_dir": self.path("app"),
                     "uwsgi_app_ini": ""}
        entrypoint.fit_the_app(variables)
        self.assertEqual((variables["uwsgi_module"], variables["uwsgi_callable"]), ("main", "app"))
        # The app's ini says which: it is left alone.
        self.write("app/uwsgi.ini", "[uwsgi]\ncallable = create_app()\n")
        variables.update(uwsgi_callable="application", uwsgi_app_ini=self.path("app/uwsgi.ini"))
        entrypoint.fit_the_app(variables)
        self.assertEqual(variables["uwsgi_callable"], "application")

    def test_a_failing_hook_stops_with_its_status(self):
        self.write("app/prestart.sh", "exit 3\n")
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertEqual(raised.exception.code, 3)
        self.assertIn("exited with 3; not starting", str(raised.exception))

    def test_a_rejected_configuration_stops_with_the_checks_output(self):
        self.config["templates"][0]["validate"] = ["sh", "-c", "echo bad line in $0; exit 1", "%s"]
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertIn("rejected the configuration:\nbad line in %s" % self.path("state/app.conf"),
                      str(raised.exception))

    def test_a_rejected_replacement_is_told_what_to_change(self):
        self.write("app/app.conf", "daemon off;\n")
        self.config["templates"][0].update(validate=["false"], replacement_hint="leave out daemon off")
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertEqual(str(raised.exception).splitlines()[-1],
                         "uwsgi-nginx-entrypoint: %s: leave out daemon off" % self.path("app/app.conf"))

    def test_a_replacement_file_replaces_the_rendered_one(self):
        self.write("app/app.conf", "mine\n")
        self.start()
        self.assertEqual(self.read("state/app.conf"), "mine\n")

    def test_what_a_service_or_link_named_uwsgi_injects_does_not_reach_uwsgi(self):
        # Kubernetes (a Service "uwsgi" with a port named http) and Docker (a link aliased uwsgi).
        injected = {"UWSGI_SERVICE_HOST": "10.0.0.7", "UWSGI_SERVICE_PORT": "80", "UWSGI_SERVICE_PORT_HTTP": "80",
                    "UWSGI_PORT": "tcp://10.0.0.7:80", "UWSGI_PORT_80_TCP": "tcp://10.0.0.7:80",
                    "UWSGI_PORT_80_TCP_ADDR": "10.0.0.7", "UWSGI_PORT_80_TCP_PORT": "80",
                    "UWSGI_PORT_80_TCP_PROTO": "tcp", "UWSGI_NAME": "/web/uwsgi", "UWSGI_ENV_LANG": "C.UTF-8"}
        kept = self.start(dict(injected, UWSGI_MAX_REQUESTS="1000", UWSGI_ENV="A=b"))
        self.assertEqual(kept, {"UWSGI_MAX_REQUESTS": "1000", "UWSGI_ENV": "A=b"})

    def test_what_a_service_named_uwsgi_something_injects_does_not_reach_uwsgi(self):
        # kubectl expose deployment uwsgi-nginx: a Service uwsgi-nginx with a port named http.
        injected = {"UWSGI_NGINX_SERVICE_HOST": "10.0.0.7", "UWSGI_NGINX_SERVICE_PORT": "80",
                    "UWSGI_NGINX_SERVICE_PORT_HTTP": "80", "UWSGI_NGINX_PORT": "tcp://10.0.0.7:80",
                    "UWSGI_NGINX_PORT_80_TCP": "tcp://10.0.0.7:80", "UWSGI_NGINX_PORT_80_TCP_ADDR": "10.0.0.7",
                    "UWSGI_NGINX_PORT_80_TCP_PORT": "80", "UWSGI_NGINX_PORT_80_TCP_PROTO": "tcp"}
        # uWSGI's own options of like names reach it: reuse-port, paste-name.
        options = {"UWSGI_REUSE_PORT": "1", "UWSGI_PASTE_NAME": "main"}
        self.assertEqual(self.start(dict(injected, **options)), options)

    def test_a_full_file_system_is_named_not_a_traceback(self):
        blocker = self.path("state")
        with open(blocker, "w") as output:
            output.write("a file where the state directory should be")
        self.config["tmpfiles_dir"] = self.path("templates")  # no tmpfiles.d lines: nothing made
        with self.assertRaises(entrypoint.Stop) as raised:
            self.start()
        self.assertTrue(str(raised.exception).startswith("uwsgi-nginx-entrypoint: cannot write %s/" % blocker),
                        str(raised.exception))

    def test_settings_applied_here_do_not_reach_uwsgi_again(self):
        environ = {"UWSGI_PROCESSES": "3", "UWSGI_MAX_REQUESTS": "1000", "LISTEN_PORT": "8080", "HOME": "/root"}
        self.assertEqual(self.start(environ), {"UWSGI_MAX_REQUESTS": "1000", "LISTEN_PORT": "8080",
                                               "HOME": "/root"})


class PrestartCommandTest(unittest.TestCase):
    def setUp(self):
        handle, self.script = tempfile.mkstemp()
        os.close(handle)
        self.addCleanup(os.remove, self.script)

    def command(self, text, mode):
        with open(self.script, "w") as output:
            output.write(text)
        os.chmod(self.script, mode)
        return entrypoint.prestart_command(self.script)

    def test_executable_runs_directly(self):
        self.assertEqual(self.command("#!/bin/false\n", 0o755), [self.script])

    def test_not_executable_runs_with_the_interpreter_its_first_line_names(self):
        self.assertEqual(self.command("#!/usr/bin/env python3 -u\nprint(1)\n", 0o644),
                         ["/usr/bin/env", "python3", "-u", self.script])

    def test_otherwise_sh(self):
        self.assertEqual(self.command("echo hi\n", 0o644), ["/bin/sh", self.script])


class MainTest(Configured):
    """main(), as the launcher calls it, in a child process: it replaces itself with the command."""

    def main(self, *argv, **environ):
        with open(self.path("entrypoint.json"), "w") as config_file:
            json.dump(self.config, config_file)
        code = ("import sys; sys.path[:0] = %r; from uwsgi_nginx.entrypoint import main; "
                "sys.exit(main(sys.argv[1:], %r))" % (PACKAGE_PATHS, self.path("entrypoint.json")))
        environment = dict(os.environ, **environ)
        child = subprocess.Popen([sys.executable, "-c", code] + list(argv), env=environment,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = child.communicate()
        return child.returncode, out.decode("utf-8"), err.decode("utf-8")

    def test_the_command_runs_after_the_start_with_its_environment(self):
        self.config["command"] = "env"
        code, out, _ = self.main("env", UWSGI_PROCESSES="3", UWSGI_MAX_REQUESTS="7")
        self.assertEqual(code, 0)
        self.assertIn("UWSGI_MAX_REQUESTS=7\n", out)
        self.assertNotIn("UWSGI_PROCESSES=", out)
        self.assertIn("workers = 3", self.read("state/app.conf"))

    def test_a_bad_setting_exits_1_with_its_line(self):
        self.config["command"] = "env"
        code, out, err = self.main("env", LISTEN_PORT="x")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, 'uwsgi-nginx-entrypoint: LISTEN_PORT="x": expected a whole number from 1 to 65535\n')

    def test_any_other_command_runs_as_given_with_nothing_checked(self):
        code, out, _ = self.main("sh", "-c", "echo $LISTEN_PORT", LISTEN_PORT="x")
        self.assertEqual((code, out), (0, "x\n"))
        self.assertFalse(os.path.exists(self.path("state")))

    def test_run_name_starts_that_program_alone(self):
        self.config["programs"] = [{"name": "uwsgi", "command": "true"}, {"name": "env", "command": "env"}]
        self.config["templates"].append({"role": "env", "template": "app.conf.j2", "dest": "/etc/env.conf"})
        code, _, err = self.main("run-env", UWSGI_PROCESSES="x", LISTEN_PORT="81")
        self.assertEqual(code, 127)  # after the start: there is no run-env command here
        self.assertIn("cannot run run-env", err)
        self.assertEqual(sorted(os.listdir(self.path("state"))),
                         ["drain-seconds", "env.conf", "healthcheck-url", "nginx-alive-url"])

    def test_a_command_that_does_not_exist_exits_127(self):
        code, _, err = self.main("no-such-command")
        self.assertEqual(code, 127)
        self.assertIn("cannot run no-such-command", err)


if __name__ == "__main__":
    unittest.main()
