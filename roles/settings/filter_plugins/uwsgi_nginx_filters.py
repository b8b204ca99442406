"""The environment contract for Ansible: the filters of files/uwsgi_nginx/settings.py, the code
the image's entrypoint runs (one implementation of the checks and of `auto`).

uwsgi_nginx_count(value, variable, cpus)      a count setting's value, `auto` counted per CPU
uwsgi_nginx_per_cpu(variable)                 how many `auto` stands for per CPU
uwsgi_nginx_setting_errors(variables, cpus)   a message for each role variable the contract refuses
uwsgi_nginx_websocket_socket(socket)          uWSGI's WebSocket socket that follows its socket
uwsgi_nginx_address(socket)                   a socket as nginx names it (unix:PATH, host:port)
uwsgi_nginx_is_unix_socket(socket)            a path, not [host]:port
uwsgi_nginx_is_host_name(socket)              host:port with a host name, not an address
uwsgi_nginx_kept_sockets(enabled, socket, processes, cpus)
                                              uWSGI's socket of each worker's own (kept-N.sock)"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), os.pardir, "files"))
from uwsgi_nginx import settings  # noqa: E402


class FilterModule(object):
    def filters(self):
        return dict(settings.FILTERS)
