"""The container's entrypoint (uwsgi-nginx-entrypoint, installed by the entrypoint role).

Before the default command (run-supervisord), at every start:
  1. reads the settings the environment gives (LISTEN_PORT, UWSGI_PROCESSES, ...) and checks
     each against the contract (settings.py); a bad one stops the container, one line each; so
     does a file where another image's users put theirs, which no program here reads (a file
     the build wrote, since changed: tiangolo/uwsgi-nginx's /etc/uwsgi/uwsgi.ini; with every
     program, one of the unread_files: supervisord's conf.d);
  2. creates the directories the roles' tmpfiles.d files describe, as systemd-tmpfiles does at
     boot on a host (/run may be a new tmpfs);
  3. runs the app's prestart hook, if there is one: a shell script sourced, so that what it
     exports reaches the programs, any other with its own interpreter; then gives what it made
     in the app's data directory (the tmpfiles.d Z lines) to the app's user, and checks the
     files the settings name (which the hook may have made): nginx's TLS pair by tls.py;
  4. renders the roles' templates with the variables this image was built with, overridden by
     those settings, and the facts the templates read, which Ansible gathers on a host: the
     CPUs the container may use (processor_vcpus), the user it runs as (effective_user_id:
     other than root, no switch to the workers' users) and the resolvers (dns.nameservers: uWSGI
     named by host name is looked up through them); into the state directory (the image's own
     files are left as the build wrote them);
  5. checks the result (each template's validate command: nginx -t), writes the health
     probe's URL, and runs the command.
The same sequence runs before run-NAME, one program alone (program.py; run-uwsgi, run-nginx),
for that program's role only: its settings (and those they follow) checked, its templates
rendered, its health probe's URL written. Any other command (a shell, a one-off script) runs as
given, with nothing checked or written.

The build describes all of it in one JSON file (the entrypoint role writes it): command,
programs ([{name, command, stopsignal, stopwaitsecs}]), state_dir, template_dir, tmpfiles_dir,
templates ([{role, template, dest, validate, replacement_hint, unread_hint}]), replacements
({dest: file that replaces it when it exists}), built_files ({dest: its sha256 as the build wrote
it}), unread_files ([{path: a glob pattern, hint}]), healthcheck_url, nginx_alive_url,
nginx_status_url and variables.

With METRICS_PORT set, the command does not replace the entrypoint: the entrypoint binds that
port and runs the command with the metrics exporter beside it (companion.py, metrics.py).
Python 2.7 and 3."""
from __future__ import print_function

import glob
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from urlparse import urlsplit

from uwsgi_nginx import app, companion, drain, healthcheck, metrics, settings, system, tls

NAME = "uwsgi-nginx-entrypoint"
# This role: its settings (PRE_START_PATH, DRAIN_SECONDS) are every command's.
ROLE = "entrypoint"
MANAGED = "Written by %s at container start; edits are lost at the next start" % NAME
PRESTART = "entrypoint_prestart_script"
METRICS_PORT = "entrypoint_metrics_port"
METRICS_COMMAND = "uwsgi-nginx-metrics"
# Shells whose scripts are sourced as hooks, and what a shell sets for itself.
SHELLS = ("sh", "bash", "dash")
SHELL_VARIABLES = ("PWD", "OLDPWD", "SHLVL", "_")
# Where a sourced hook's variables are written (a variable only the hook's shell gets).
EXPORTS_FILE = "UWSGI_NGINX_PRESTART_EXPORTS"
# What a Kubernetes Service whose name starts with uwsgi (uwsgi, uwsgi-nginx, ...) puts in the
# environment (UWSGI_NGINX_SERVICE_HOST, UWSGI_NGINX_PORT=tcp://..., UWSGI_PORT_80_TCP_ADDR...),
# and a Docker link aliased uwsgi (UWSGI_NAME, UWSGI_ENV_*): uWSGI would take each for an option
# (UWSGI_<OPTION>), and its strict mode refuse to start. No uWSGI option has these shapes; a
# *_PORT one (reuse-port) only with a value other than a service's URL.
INJECTED_NAME = re.compile(r"UWSGI_(([A-Z0-9_]+_)?(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
                           r"|PORT_[0-9]+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO)?)|NAME|ENV_[A-Za-z0-9_]+)\Z")
INJECTED_PORT = re.compile(r"UWSGI_([A-Z0-9_]+_)?PORT\Z")
SERVICE_URL = re.compile(r"(tcp|udp|sctp)://")


def is_injected(name, value):
    return bool(INJECTED_NAME.match(name) or (INJECTED_PORT.match(name) and SERVICE_URL.match(value)))


class Stop(Exception):
    """A reason not to start; the message is printed as it is, the code is the exit status."""

    def __init__(self, message, code=1):
        Exception.__init__(self, message)
        self.code = code


def stop(*messages):
    return Stop("\n".join("%s: %s" % (NAME, message) for message in messages))


def check_paths(variables, given, names):
    """A path the environment named must exist; a default one that does not is left unset."""
    exists = {"file": os.path.isfile, "directory": os.path.isdir}
    for name in names:
        setting = settings.BY_VARIABLE[name]
        value = variables.get(name)
        if setting.kind not in exists or not value or exists[setting.kind](value):
            continue
        if name in given:
            raise stop("%s=%s: expected an existing %s" % (setting.env, settings.shown(value), setting.kind))
        variables[name] = ""


def unread_files(config, program):
    """Files where another image's users put them, which no program here reads, one line each:
    a file a template's dest names that is not the one the build wrote (the programs read what
    a start renders), for the templates of the programs starting; with every program, any file
    an unread_files pattern matches."""
    found = []
    built = config.get("built_files", {})
    for template in config["templates"]:
        dest = template["dest"]
        if program not in (None, template["role"]) or not built.get(dest) or not os.path.isfile(dest):
            continue
        if sha256(dest) != built[dest]:
            found.append("%s: not the file this image was built with, and no program reads it (they read %s, "
                         "written at every start): %s" % (dest, rendered_path(config, template),
                                                          template.get("unread_hint", "remove it")))
    if program is None:
        for unread in config.get("unread_files", []):
            found.extend("%s: %s" % (path, unread["hint"]) for path in sorted(glob.glob(unread["path"])))
    return found


def sha256(path):
    """The file's sha256 in hex; None when it cannot be read (the build's files can, by anyone)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as contents:
            for block in iter(lambda: contents.read(65536), b""):
                digest.update(block)
    except (IOError, OSError):
        return None
    return digest.hexdigest()


def interpreter(path):
    """The interpreter the hook's #! line names (as the kernel would read it), or None."""
    with open(path, "rb") as script:
        first_line = script.readline().decode("utf-8", "replace").strip()
    return shlex.split(first_line[2:]) if first_line.startswith("#!") else None


def sourcing_shell(path):
    """The shell that sources the hook, when it is a shell script: the sh or bash its #! line
    names, sh without one (as tiangolo/uwsgi-nginx sources it); else None."""
    command = interpreter(path)
    if command is None:
        return ["/bin/sh"]
    if command[0] == "/usr/bin/env" and len(command) == 2:
        command = command[1:]
    if len(command) == 1 and os.path.basename(command[0]) in SHELLS:
        return command
    return None


def prestart_command(path):
    """A hook that is no shell script runs with its own interpreter: directly when executable,
    else the one its #! line names."""
    if os.access(path, os.X_OK):
        return [path]
    return (interpreter(path) or ["/bin/sh"]) + [path]


def run_prestart(path, state_dir, environ):
    """Runs the hook; returns what it exported (a sourced shell script's variables that differ
    from environ), {} for any other."""
    print("%s: running %s" % (NAME, path), file=sys.stderr)
    sys.stderr.flush()
    shell = sourcing_shell(path)
    if not shell:
        check_hook(path, subprocess.call(prestart_command(path)))
        return {}
    handle, exported_file = tempfile.mkstemp(dir=state_dir, prefix="prestart-")
    os.close(handle)
    try:
        # The hook's variables are written out on its way out, even when it calls exit.
        script = 'trap \'env -0 > "$%s"\' EXIT; . "$0"' % EXPORTS_FILE
        hook_environ = dict(environ, **{EXPORTS_FILE: exported_file})
        check_hook(path, subprocess.call(shell + ["-c", script, path], env=hook_environ))
        with open(exported_file, "rb") as exported:
            # As the environment holds them: bytes on Python 2, text (surrogateescape) on 3.
            pairs = [(entry if str is bytes else entry.decode("utf-8", "surrogateescape")).partition("=")
                     for entry in exported.read().split(b"\0") if entry]
    finally:
        os.remove(exported_file)
    return dict((name, value) for name, _, value in pairs
                if name not in SHELL_VARIABLES + (EXPORTS_FILE,) and environ.get(name) != value)


def check_hook(path, code):
    if code != 0:
        raise Stop("%s: %s exited with %s; not starting" % (
            NAME, path, code if code > 0 else "signal %d" % -code), code if code > 0 else 128 - code)


def fit_the_app(variables):
    """What the app brings decides what the image's defaults cannot know: an app ini that loads
    the app itself (wsgi-file, module, ...) leaves out the image's module; a module with no
    `application` but an `app` is served by `app`. Says what it changed."""
    if "uwsgi_module" not in variables:
        return
    ini = variables.get("uwsgi_app_ini")
    options = app.ini_options(ini) if ini else set()
    loaders = app.loaders(options)
    if loaders and variables["uwsgi_module"]:
        print("%s: %s loads the app itself (%s): the image's module = %s is left out" % (
            NAME, ini, ", ".join(loaders), variables["uwsgi_module"]), file=sys.stderr)
        variables["uwsgi_module"] = ""
    if variables["uwsgi_module"] and "callable" not in options and variables["uwsgi_callable"] == app.CALLABLES[0]:
        found = app.callable_of(variables["uwsgi_app_dir"], variables["uwsgi_module"])
        if found and found != variables["uwsgi_callable"]:
            print("%s: %s has no %s but an %s: serving %s" % (
                NAME, variables["uwsgi_module"], variables["uwsgi_callable"], found, found), file=sys.stderr)
            variables["uwsgi_callable"] = found


def rendered_path(config, template):
    """Where a start writes a template's file: under its own name in the state directory."""
    return os.path.join(config["state_dir"], os.path.basename(template["dest"]))


def render(config, templates, variables):
    """Writes each template's file; returns the replacement files used, by the file they replace."""
    import jinja2

    # Ansible's template module's settings, so that both render the same text.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config["template_dir"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    environment.filters.update(settings.FILTERS)
    used = {}
    for template in templates:
        replacement = config["replacements"].get(template["dest"])
        if replacement and os.path.isfile(replacement):
            with open(replacement, "rb") as source:
                content = source.read().decode("utf-8")
            print("%s: %s replaces %s" % (NAME, replacement, template["dest"]), file=sys.stderr)
            used[template["dest"]] = replacement
        else:
            content = environment.get_template(template["template"]).render(variables)
        system.write(rendered_path(config, template), content)
    return used


def validate(config, templates, replacements):
    """Each template's validate command, %s standing for the file written (as Ansible's). A
    replacement the command rejects is told what it must be written for."""
    for template in templates:
        if not template.get("validate"):
            continue
        command = [argument.replace("%s", rendered_path(config, template)) for argument in template["validate"]]
        check = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = check.communicate()[0].decode("utf-8", "replace").strip()
        if check.returncode != 0:
            hint = ""
            if template["dest"] in replacements and template.get("replacement_hint"):
                hint = "\n%s: %s: %s" % (NAME, replacements[template["dest"]], template["replacement_hint"])
            raise Stop("%s: %s rejected the configuration:\n%s%s" % (NAME, " ".join(command), output, hint))


def program_environment(environ, variables):
    """The environment the programs get, and the names left out of it: uWSGI reads
    UWSGI_<OPTION> variables itself; the settings applied here are in its configuration already,
    never to be applied twice, and what a Service or a link injects is no option of uWSGI's."""
    applied = settings.environment_names(variables)
    injected = sorted(key for key, value in environ.items() if is_injected(key, value))
    kept = dict((key, value) for key, value in environ.items()
                if not (key.startswith("UWSGI_") and key in applied) and key not in injected)
    return kept, injected


def health_urls(config, program, variables):
    """What uwsgi-nginx-healthcheck asks, by check: with nginx, the app through it and nginx
    itself; uWSGI alone, the app at uWSGI's socket (the uwsgi protocol), on the same path."""
    app_url = config["healthcheck_url"].format(**variables)
    if program != "uwsgi":
        return {"app": app_url, "nginx": config["nginx_alive_url"].format(**variables)}
    socket = variables["uwsgi_socket"]
    address = settings.nginx_address(socket) + (":" if settings.is_unix_socket(socket) else "")
    return {"app": "uwsgi://%s%s" % (address, urlsplit(app_url).path)}


def ports_in_use(variables, program):
    """{port: the setting that takes it} of the programs this container runs."""
    taken = {}
    if program in (None, "nginx"):
        taken[variables["nginx_listen_port"]] = "nginx_listen_port"
        if variables.get("nginx_tls_certificate"):
            taken[variables["nginx_tls_port"]] = "nginx_tls_port"
    if program in (None, "uwsgi"):
        for name in ("uwsgi_socket", "uwsgi_websocket_socket"):
            socket = variables.get(name)
            if socket and not settings.is_unix_socket(socket):
                taken[int(socket.rsplit(":", 1)[1])] = name
    return taken


def metrics_sources(config, program, variables, user_id):
    """What the metrics exporter reads (metrics.py): its port, nginx's status page and uWSGI's
    stats server, those of the programs this container runs; the user it runs as."""
    port = variables[METRICS_PORT]
    taken = ports_in_use(variables, program).get(port)
    if taken:
        raise stop("%s=%d: expected a port other than %s's: the metrics are never served on another "
                   "program's port" % (settings.BY_VARIABLE[METRICS_PORT].env, port, settings.BY_VARIABLE[taken].env))
    return {"port": port,
            "nginx": config["nginx_status_url"].format(**variables) if program in (None, "nginx") else None,
            "uwsgi": (variables.get("uwsgi_stats_socket") or None) if program in (None, "uwsgi") else None,
            "user": variables.get("uwsgi_user") if user_id == 0 else None}


def start(config, environ, cpus, user_id, program=None):
    """The start sequence, for every program or one alone; returns the environment the command
    runs with and what the metrics exporter reads (None: no metrics)."""
    templates = [template for template in config["templates"] if program in (None, template["role"])]
    variables = dict(config["variables"])
    try:
        given = settings.from_environment(environ, variables, cpus, program and set([program, ROLE]))
    except settings.Invalid as invalid:
        raise stop(*invalid.args[0])
    unread = unread_files(config, program)
    if unread:
        raise stop(*unread)
    # The app's directory is the container's working directory (the image's WORKDIR, /app, or
    # an image's own built on it): uWSGI changes into it and imports the app from it.
    if "uwsgi_app_dir" in variables and os.getcwd() != "/":
        variables["uwsgi_app_dir"] = os.getcwd()
    variables["ansible_managed"] = MANAGED
    variables["ansible_facts"] = {"processor_vcpus": cpus, "effective_user_id": user_id,
                                  "dns": {"nameservers": system.nameservers()}}
    try:
        system.make_directories(config["tmpfiles_dir"])
        drain.prepare(config["state_dir"], variables.get("entrypoint_drain_seconds", 0), system.write)
        check_paths(variables, given, [PRESTART])
        if variables.get(PRESTART):
            environ = dict(environ, **run_prestart(variables[PRESTART], config["state_dir"], environ))
        # What the hook (or whoever filled a mounted volume) made in the app's directories, as
        # root, becomes the app's.
        for failure in system.own_trees(config["tmpfiles_dir"]):
            print("%s: %s" % (NAME, failure), file=sys.stderr)
        # After the hook, which may have made them.
        check_paths(variables, given, [s.variable for s in settings.SETTINGS if s.variable in variables])
        if program in (None, "nginx"):
            bad_tls = tls.problems(variables, lambda variable: settings.BY_VARIABLE[variable].env)
            if bad_tls:
                raise stop(*bad_tls)
        if program in (None, "uwsgi"):
            fit_the_app(variables)
        validate(config, templates, render(config, templates, variables))
        for check, url in health_urls(config, program, variables).items():
            system.write(os.path.join(config["state_dir"], healthcheck.URL_FILES[check]), url + "\n")
        sources = metrics_sources(config, program, variables, user_id) if variables.get(METRICS_PORT) else None
    except system.NotPrepared as error:
        raise stop(str(error))
    kept, injected = program_environment(environ, variables)
    if injected:
        print("%s: not passed to uWSGI, which would take them for options: %s (a Kubernetes Service or "
              "Docker link named uwsgi sets them)" % (NAME, ", ".join(injected)), file=sys.stderr)
    return kept, sources


def run_with_metrics(argv, environ, state_dir, sources):
    """The command, the metrics exporter beside it on the port, which is bound here: a port
    that cannot be had stops the start."""
    try:
        listener = metrics.listening_socket(sources["port"])
    except (OSError, IOError) as error:
        print("%s: %s=%d: cannot listen there: %s" % (
            NAME, settings.BY_VARIABLE[METRICS_PORT].env, sources["port"], error.strerror or error), file=sys.stderr)
        return 1
    system.write(os.path.join(state_dir, metrics.SOURCES_FILE), json.dumps(dict(sources, family=listener.family)))
    exporter_environ = dict(environ, **{metrics.FD_VARIABLE: str(listener.fileno())})
    return companion.run(argv, environ, [METRICS_COMMAND], listener.fileno(), exporter_environ)


def main(argv, config_path):
    if not argv:
        print("usage: %s COMMAND [ARG...]" % NAME, file=sys.stderr)
        return 2
    environ = dict(os.environ)
    with open(config_path) as config_file:
        config = json.load(config_file)
    # The command that runs every program, and run-NAME, which runs program NAME alone.
    programs = dict(("run-" + program["name"], program["name"]) for program in config["programs"])
    programs[config["command"]] = None
    command = os.path.basename(argv[0])
    sources = None
    if command in programs:
        try:
            environ, sources = start(config, environ, system.available_cpus(), os.geteuid(), programs[command])
        except Stop as reason:
            print(str(reason), file=sys.stderr)
            return reason.code
    sys.stdout.flush()
    sys.stderr.flush()
    if sources:
        return run_with_metrics(argv, environ, config["state_dir"], sources)
    try:
        os.execvpe(argv[0], argv, environ)
    except OSError as error:
        print("%s: cannot run %s: %s" % (NAME, argv[0], error.strerror), file=sys.stderr)
        return 127
