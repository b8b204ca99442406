"""The settings contract (roles/entrypoint/files/uwsgi_nginx/settings.py): what each kind of
setting accepts, the messages, `auto` per CPU, and the two ways in (environment, role variables).
Standard library only: runs on Python 3 (make check) and on the image's Python (2.7)."""
import unittest

import support  # noqa: F401 (the package on the path)
from uwsgi_nginx import settings

# The role variables as a build records them (the image's defaults).
BUILT = {"uwsgi_processes": "auto", "uwsgi_threads": 1, "uwsgi_cheaper": 0, "uwsgi_harakiri": 0,
         "uwsgi_app_ini": "/app/uwsgi.ini", "nginx_client_max_body_size": "1m", "nginx_listen_port": 80,
         "nginx_static_index": False, "entrypoint_prestart_script": "/app/prestart.sh"}


def from_environment(environ, cpus=2, values=None):
    values = dict(BUILT if values is None else values)
    given = settings.from_environment(environ, values, cpus)
    return values, given


def messages(environ, cpus=2, values=None):
    try:
        from_environment(environ, cpus, values)
    except settings.Invalid as invalid:
        return invalid.args[0]
    return []


class EnvironmentTest(unittest.TestCase):
    def test_values_are_parsed_by_kind(self):
        values, given = from_environment({"UWSGI_PROCESSES": "8", "STATIC_INDEX": "Yes", "NGINX_MAX_UPLOAD": "25m",
                                          "UWSGI_INI": "/srv/app.ini"})
        self.assertEqual(values["uwsgi_processes"], 8)
        self.assertIs(values["nginx_static_index"], True)
        self.assertEqual(values["nginx_client_max_body_size"], "25m")
        self.assertEqual(values["uwsgi_app_ini"], "/srv/app.ini")
        self.assertEqual(given, set(["uwsgi_processes", "nginx_static_index", "nginx_client_max_body_size",
                                     "uwsgi_app_ini"]))

    def test_an_empty_value_counts_as_unset(self):
        values, given = from_environment({"UWSGI_PROCESSES": "", "LISTEN_PORT": ""})
        self.assertEqual(values, BUILT)
        self.assertEqual(given, set())

    def test_a_word_is_accepted_where_the_table_lists_it(self):
        values, _ = from_environment({"UWSGI_PROCESSES": "auto"}, values=dict(BUILT, uwsgi_processes=3))
        self.assertEqual(values["uwsgi_processes"], "auto")
        self.assertEqual(messages({"UWSGI_THREADS": "auto"}),
                         ['UWSGI_THREADS="auto": expected a whole number from 1 to 1024'])

    def test_each_bad_value_is_named_with_what_it_accepts(self):
        self.assertEqual(messages({"LISTEN_PORT": "70000", "UWSGI_PROCESSES": "4%", "STATIC_INDEX": "maybe",
                                   "NGINX_MAX_UPLOAD": "1m; return 200", "UWSGI_INI": "/app/../etc/passwd"}), [
            'UWSGI_PROCESSES="4%": expected a whole number from 1 to 1024 or auto',
            'UWSGI_INI="/app/../etc/passwd": expected an absolute path of letters, digits and . _ @ + - '
            '(no part starting with .)',
            'NGINX_MAX_UPLOAD="1m; return 200": expected a size in bytes with an optional k, m or g suffix, '
            '0 for no limit (e.g. 10m)',
            'LISTEN_PORT="70000": expected a whole number from 1 to 65535',
            'STATIC_INDEX="maybe": expected one of 1, 0, true, false, yes, no, on, off',
        ])

    def test_a_value_that_would_break_out_of_its_line_is_refused(self):
        self.assertEqual(messages({"UWSGI_HARAKIRI": "30\nchmod-socket = 666"}),
                         ['UWSGI_HARAKIRI="30\\nchmod-socket = 666": expected a whole number from 0 to 86400'])

    def test_relative_paths_are_refused(self):
        self.assertEqual(len(messages({"PRE_START_PATH": "prestart.sh"})), 1)
        self.assertEqual(len(messages({"STATIC_PATH": "relative/path"}, values=dict(BUILT, nginx_static_path=""))), 1)

    def test_cheaper_stays_below_the_processes_counted_per_cpu(self):
        self.assertEqual(messages({"UWSGI_CHEAPER": "6"}, cpus=3),
                         ['UWSGI_CHEAPER="6": expected a whole number from 0, 0 or less than UWSGI_PROCESSES (6)'])
        values, _ = from_environment({"UWSGI_CHEAPER": "5"}, cpus=3)
        self.assertEqual(values["uwsgi_cheaper"], 5)
        self.assertEqual(messages({"UWSGI_CHEAPER": "3", "UWSGI_PROCESSES": "3"}),
                         ['UWSGI_CHEAPER="3": expected a whole number from 0, 0 or less than UWSGI_PROCESSES (3)'])

    def test_settings_of_programs_this_container_does_not_run_are_ignored(self):
        nginx_only = {"nginx_listen_port": 80}
        values, given = from_environment({"UWSGI_PROCESSES": "many", "LISTEN_PORT": "8080"}, values=nginx_only)
        self.assertEqual(values, {"nginx_listen_port": 8080})
        self.assertEqual(settings.environment_names(nginx_only), set(["LISTEN_PORT"]))

    def test_python2_environment_bytes_are_shown_on_one_line(self):
        self.assertEqual(settings.shown(b"a\xffb\n"), '"a\\ufffdb\\n"')


class VariablesTest(unittest.TestCase):
    def test_the_image_defaults_pass(self):
        self.assertEqual(settings.variable_errors(dict(BUILT, nginx_static_path=""), 2), [])

    def test_role_variables_are_named_as_variables(self):
        self.assertEqual(settings.variable_errors(dict(BUILT, uwsgi_processes=0, nginx_static_index="maybe"), 2), [
            'uwsgi_processes="0": expected a whole number from 1 to 1024 or auto',
            'nginx_static_index="maybe": expected one of 1, 0, true, false, yes, no, on, off',
        ])
        self.assertEqual(settings.variable_errors(dict(BUILT, uwsgi_cheaper=4), 2), [
            'uwsgi_cheaper="4": expected a whole number from 0, 0 or less than uwsgi_processes (4)'])

    def test_ansible_types_are_read_as_ansible_holds_them(self):
        # A boolean from YAML, a number given as text (--extra-vars), an empty path: none.
        self.assertEqual(settings.variable_errors({"nginx_static_index": True, "uwsgi_processes": "3",
                                                   "uwsgi_app_ini": ""}, 1), [])

    def test_an_optional_text_may_be_empty_as_a_variable_only(self):
        self.assertEqual(settings.variable_errors({"nginx_real_ip_from": ""}, 1), [])
        self.assertEqual(len(settings.variable_errors({"nginx_real_ip_from": "10.0.0.0/8;"}, 1)), 1)
        values, _ = from_environment({"NGINX_REAL_IP_FROM": "10.0.0.0/8,::1"}, values={"nginx_real_ip_from": ""})
        self.assertEqual(values, {"nginx_real_ip_from": "10.0.0.0/8,::1"})

    def test_other_variables_are_not_the_contracts_business(self):
        self.assertEqual(settings.variable_errors({"uwsgi_listen": "anything", "nginx_user": 5}, 1), [])


SOCKETS = {"uwsgi_socket": "/run/uwsgi/uwsgi.sock", "uwsgi_websocket_socket": "/run/uwsgi/websocket.sock",
           "nginx_uwsgi_socket": "/run/uwsgi/uwsgi.sock", "nginx_uwsgi_websocket_socket": "/run/uwsgi/websocket.sock"}


class SocketTest(unittest.TestCase):
    def sockets(self, environ, roles=None):
        values = dict(SOCKETS)
        given = settings.from_environment(environ, values, 1, roles)
        return dict((name, value) for name, value in values.items() if value != SOCKETS[name]), given

    def test_a_socket_is_a_path_or_host_and_port(self):
        for text in ("/srv/app.sock", ":3031", "127.0.0.1:3031", "uwsgi:3031", "[::1]:3031", "uwsgi.svc.local:1"):
            self.assertEqual(messages({"UWSGI_SOCKET": text}, values=SOCKETS), [], text)
        for text in ("app.sock", "3031", "uwsgi:", "uwsgi:70000", "uwsgi:0", "/srv/../app.sock", "-host:1"):
            self.assertEqual(messages({"UWSGI_SOCKET": text}, values=SOCKETS), [
                'UWSGI_SOCKET="%s": expected an absolute path (a unix socket) or [host]:port (TCP, e.g. :3031, '
                '127.0.0.1:3031, uwsgi:3031)' % text], text)

    def test_nginx_and_the_websocket_sockets_follow_uwsgis(self):
        self.assertEqual(self.sockets({"UWSGI_SOCKET": "/srv/uwsgi/app.sock"})[0], {
            "uwsgi_socket": "/srv/uwsgi/app.sock", "uwsgi_websocket_socket": "/srv/uwsgi/websocket.sock",
            "nginx_uwsgi_socket": "/srv/uwsgi/app.sock", "nginx_uwsgi_websocket_socket": "/srv/uwsgi/websocket.sock"})
        # Beside a TCP socket no WebSocket one, unless given; nginx follows what is given.
        changed, given = self.sockets({"UWSGI_SOCKET": "127.0.0.1:3031"})
        self.assertEqual(changed, {"uwsgi_socket": "127.0.0.1:3031", "uwsgi_websocket_socket": "",
                                   "nginx_uwsgi_socket": "127.0.0.1:3031", "nginx_uwsgi_websocket_socket": ""})
        self.assertEqual(given, set(SOCKETS))
        self.assertEqual(self.sockets({"UWSGI_SOCKET": ":3031", "UWSGI_WEBSOCKET_SOCKET": ":3032"})[0], {
            "uwsgi_socket": ":3031", "uwsgi_websocket_socket": ":3032",
            "nginx_uwsgi_socket": ":3031", "nginx_uwsgi_websocket_socket": ":3032"})

    def test_nginx_given_its_own_socket_follows_it_not_uwsgis(self):
        # nginx in a container of its own, uWSGI in another (Compose, Swarm).
        self.assertEqual(self.sockets({"NGINX_UWSGI_SOCKET": "uwsgi:3031"}, roles={"nginx", "entrypoint"})[0], {
            "nginx_uwsgi_socket": "uwsgi:3031", "nginx_uwsgi_websocket_socket": ""})
        self.assertEqual(self.sockets({"NGINX_UWSGI_SOCKET": "uwsgi:3031", "NGINX_UWSGI_WEBSOCKET_SOCKET": "uwsgi:3032",
                                       "UWSGI_SOCKET": ":3031", "UWSGI_WEBSOCKET_SOCKET": ":3032"},
                                      roles={"nginx", "entrypoint"})[0]["nginx_uwsgi_websocket_socket"], "uwsgi:3032")

    def test_one_programs_settings_are_its_own_and_those_it_follows(self):
        values = dict(BUILT, **SOCKETS)
        environ = {"UWSGI_PROCESSES": "x", "UWSGI_SOCKET": ":3031", "LISTEN_PORT": "81"}
        self.assertEqual(settings.from_environment(environ, values, 1, {"nginx", "entrypoint"}),
                         set(["uwsgi_socket", "uwsgi_websocket_socket", "nginx_uwsgi_socket",
                              "nginx_uwsgi_websocket_socket", "nginx_listen_port"]))
        self.assertEqual(messages({"UWSGI_PROCESSES": "x", "LISTEN_PORT": "x"}, values=values), [
            'UWSGI_PROCESSES="x": expected a whole number from 1 to 1024 or auto',
            'LISTEN_PORT="x": expected a whole number from 1 to 65535'])
        with self.assertRaises(settings.Invalid) as raised:
            settings.from_environment({"UWSGI_PROCESSES": "x", "LISTEN_PORT": "x"}, dict(values), 1,
                                      {"uwsgi", "entrypoint"})
        self.assertEqual(raised.exception.args[0],
                         ['UWSGI_PROCESSES="x": expected a whole number from 1 to 1024 or auto'])

    def test_a_host_name_is_told_from_an_address(self):
        self.assertEqual([settings.is_host_name(socket) for socket in (
            "uwsgi:3031", "uwsgi.default.svc:3031", "127.0.0.1:3031", "[::1]:3031", ":3031", "/run/uwsgi.sock")],
            [True, True, False, False, False, False])

    def test_nginx_names_a_socket_its_way(self):
        sockets = ("/run/uwsgi/uwsgi.sock", ":3031", "uwsgi:3031")
        self.assertEqual([settings.nginx_address(socket) for socket in sockets],
                         ["unix:/run/uwsgi/uwsgi.sock", "127.0.0.1:3031", "uwsgi:3031"])


class KeptSocketsTest(unittest.TestCase):
    """NGINX_UWSGI_KEEPALIVE: a socket of each uWSGI worker's own, which nginx follows."""
    BUILT = dict(BUILT, uwsgi_kept_sockets=False, nginx_uwsgi_kept_sockets=[], **SOCKETS)

    def test_a_socket_for_each_worker_beside_uwsgis_that_nginx_follows_at_every_start(self):
        values, _ = from_environment({"NGINX_UWSGI_KEEPALIVE": "on", "UWSGI_SOCKET": "/srv/uwsgi/app.sock"},
                                     cpus=2, values=self.BUILT)
        self.assertEqual(values["nginx_uwsgi_kept_sockets"], ["/srv/uwsgi/kept-%d.sock" % worker
                                                              for worker in range(1, 5)])
        # A build with them on, started with another count of workers.
        built_on = dict(self.BUILT, uwsgi_kept_sockets=True, nginx_uwsgi_kept_sockets=["/run/uwsgi/kept-1.sock"])
        values, _ = from_environment({"UWSGI_PROCESSES": "3"}, values=built_on)
        self.assertEqual(values["nginx_uwsgi_kept_sockets"], ["/run/uwsgi/kept-%d.sock" % worker
                                                              for worker in range(1, 4)])
        values, _ = from_environment({"NGINX_UWSGI_KEEPALIVE": "off"}, values=built_on)
        self.assertEqual(values["nginx_uwsgi_kept_sockets"], [])
        self.assertEqual(settings.kept_sockets(False, "/run/uwsgi/uwsgi.sock", "auto", 2), [])

    def test_what_it_needs_is_named_with_why(self):
        self.assertEqual(messages({"NGINX_UWSGI_KEEPALIVE": "on", "UWSGI_CHEAPER": "1"}, values=self.BUILT), [
            'NGINX_UWSGI_KEEPALIVE="on": expected UWSGI_CHEAPER 0, not "1": each worker has its own socket, which '
            'a worker cheaper stopped would leave unanswered'])
        self.assertEqual(messages({"NGINX_UWSGI_KEEPALIVE": "1", "UWSGI_SOCKET": ":3031"}, values=self.BUILT), [
            'NGINX_UWSGI_KEEPALIVE="1": expected UWSGI_SOCKET a unix socket, not ":3031": the kept sockets are made '
            'beside it'])
        # nginx in a container of its own (run-nginx), from an image built with them on.
        built_on = dict(self.BUILT, uwsgi_kept_sockets=True)
        with self.assertRaises(settings.Invalid) as raised:
            settings.from_environment({"NGINX_UWSGI_SOCKET": "uwsgi:3031"}, built_on, 1, {"nginx", "entrypoint"})
        self.assertEqual(raised.exception.args[0], [
            'NGINX_UWSGI_KEEPALIVE="on": expected NGINX_UWSGI_SOCKET the same as UWSGI_SOCKET, not "uwsgi:3031": '
            'nginx reaches the kept sockets by their paths, beside uWSGI'])
        self.assertEqual(settings.variable_errors(dict(self.BUILT, uwsgi_kept_sockets=True, uwsgi_cheaper=2), 2), [
            'uwsgi_kept_sockets="true": expected uwsgi_cheaper 0, not "2": each worker has its own socket, which '
            'a worker cheaper stopped would leave unanswered'])


class CountTest(unittest.TestCase):
    def test_auto_is_counted_per_cpu_as_the_table_says(self):
        self.assertEqual(settings.count("auto", "uwsgi_processes", 3), 6)
        self.assertEqual(settings.count("auto", "nginx_worker_processes", 3), 3)
        self.assertEqual(settings.count(5, "uwsgi_processes", 3), 5)
        self.assertEqual(settings.per_cpu("uwsgi_processes"), 2)

    def test_every_setting_has_a_unique_environment_name_and_variable(self):
        self.assertEqual(len(set(s.env for s in settings.SETTINGS)), len(settings.SETTINGS))
        self.assertEqual(len(settings.BY_VARIABLE), len(settings.SETTINGS))
        for setting in settings.SETTINGS:
            self.assertIn(setting.kind, ("int", "bool", "text", "file", "directory", "socket"), setting.env)


if __name__ == "__main__":
    unittest.main()
