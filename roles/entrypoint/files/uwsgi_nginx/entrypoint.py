"""The container's entrypoint (uwsgi-nginx-entrypoint, installed by the entrypoint role).

Before the default command (run-supervisord), at every start:
  1. reads the settings the environment gives (LISTEN_PORT, UWSGI_PROCESSES, ...) and checks
     each against the contract (settings.py); a bad one stops the container, one line each;
  2. creates the directories the roles' tmpfiles.d files describe, as systemd-tmpfiles does at
     boot on a host (/run may be a new tmpfs);
  3. runs the app's prestart hook, if there is one, with its own interpreter;
  4. renders the roles' templates with the variables this image was built with, overridden by
     those settings, and the two facts the templates read, which Ansible gathers on a host: the
     CPUs the container may use (processor_vcpus) and the user it runs as (effective_user_id:
     other than root, no switch to the workers' users); into the state directory (the image's
     own files are left as the build wrote them);
  5. checks the result (each template's validate command: nginx -t), writes the health
     probe's URL, and runs the command.
Any other command (a shell, a one-off script) runs as given, with nothing checked or written.

The build describes all of it in one JSON file (the entrypoint role writes it): command,
state_dir, template_dir, tmpfiles_dir, templates ([{template, dest, validate}]),
replacements ({dest: file that replaces it when it exists}), healthcheck_url and variables.
Python 2.7 and 3."""
from __future__ import print_function

import json
import os
import re
import shlex
import subprocess
import sys

from uwsgi_nginx import settings, system

NAME = "uwsgi-nginx-entrypoint"
MANAGED = "Written by %s at container start; edits are lost at the next start" % NAME
PRESTART = "entrypoint_prestart_script"
# What a Kubernetes Service or a Docker link named uwsgi puts in the environment (UWSGI_PORT,
# UWSGI_SERVICE_HOST, UWSGI_PORT_80_TCP_ADDR, UWSGI_NAME, UWSGI_ENV_*...): uWSGI would take each
# for an option (UWSGI_<OPTION>), and its strict mode refuse to start.
INJECTED = re.compile(r"UWSGI_(NAME|PORT|SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
                      r"|PORT_[0-9]+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO)?|ENV_[A-Za-z0-9_]+)\Z")


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


def prestart_command(path):
    """The hook runs with its own interpreter: directly when executable, else the one its #!
    line names (as the kernel would), else sh."""
    if os.access(path, os.X_OK):
        return [path]
    with open(path, "rb") as script:
        first_line = script.readline().decode("utf-8", "replace").strip()
    if first_line.startswith("#!"):
        return shlex.split(first_line[2:]) + [path]
    return ["sh", path]


def run_prestart(path):
    print("%s: running %s" % (NAME, path), file=sys.stderr)
    sys.stderr.flush()
    code = subprocess.call(prestart_command(path))
    if code != 0:
        raise Stop("%s: %s exited with %s; not starting" % (
            NAME, path, code if code > 0 else "signal %d" % -code), code if code > 0 else 128 - code)


def rendered_path(config, template):
    """Where a start writes a template's file: under its own name in the state directory."""
    return os.path.join(config["state_dir"], os.path.basename(template["dest"]))


def render(config, variables):
    import jinja2

    # Ansible's template module's settings, so that both render the same text.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config["template_dir"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    environment.filters.update(settings.FILTERS)
    for template in config["templates"]:
        replacement = config["replacements"].get(template["dest"])
        if replacement and os.path.isfile(replacement):
            with open(replacement, "rb") as source:
                content = source.read().decode("utf-8")
            print("%s: %s replaces %s" % (NAME, replacement, template["dest"]), file=sys.stderr)
        else:
            content = environment.get_template(template["template"]).render(variables)
        system.write(rendered_path(config, template), content)


def validate(config):
    """Each template's validate command, %s standing for the file written (as Ansible's)."""
    for template in config["templates"]:
        if not template.get("validate"):
            continue
        command = [argument.replace("%s", rendered_path(config, template)) for argument in template["validate"]]
        check = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = check.communicate()[0].decode("utf-8", "replace").strip()
        if check.returncode != 0:
            raise Stop("%s: %s rejected the configuration:\n%s" % (NAME, " ".join(command), output))


def program_environment(environ, variables):
    """The environment the programs get, and the names left out of it: uWSGI reads
    UWSGI_<OPTION> variables itself; the settings applied here are in its configuration already,
    never to be applied twice, and what a Service or a link injects is no option of uWSGI's."""
    applied = settings.environment_names(variables)
    injected = sorted(key for key in environ if INJECTED.match(key))
    kept = dict((key, value) for key, value in environ.items()
                if not (key.startswith("UWSGI_") and key in applied) and key not in injected)
    return kept, injected


def start(config, environ, cpus, user_id):
    """The start sequence; returns the environment the command runs with."""
    variables = dict(config["variables"])
    try:
        given = settings.from_environment(environ, variables, cpus)
    except settings.Invalid as invalid:
        raise stop(*invalid.args[0])
    variables["ansible_managed"] = MANAGED
    variables["ansible_facts"] = {"processor_vcpus": cpus, "effective_user_id": user_id}
    try:
        system.make_directories(config["tmpfiles_dir"])
        check_paths(variables, given, [PRESTART])
        if variables.get(PRESTART):
            run_prestart(variables[PRESTART])
        # After the hook, which may have made them.
        check_paths(variables, given, [s.variable for s in settings.SETTINGS if s.variable in variables])
        render(config, variables)
        validate(config)
        system.write(os.path.join(config["state_dir"], "healthcheck-url"),
                     config["healthcheck_url"].format(**variables) + "\n")
    except system.NotPrepared as error:
        raise stop(str(error))
    kept, injected = program_environment(environ, variables)
    if injected:
        print("%s: not passed to uWSGI, which would take them for options: %s (a Kubernetes Service or "
              "Docker link named uwsgi sets them)" % (NAME, ", ".join(injected)), file=sys.stderr)
    return kept


def main(argv, config_path):
    if not argv:
        print("usage: %s COMMAND [ARG...]" % NAME, file=sys.stderr)
        return 2
    environ = dict(os.environ)
    with open(config_path) as config_file:
        config = json.load(config_file)
    if os.path.basename(argv[0]) == config["command"]:
        try:
            environ = start(config, environ, system.available_cpus(), os.geteuid())
        except Stop as reason:
            print(str(reason), file=sys.stderr)
            return reason.code
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, environ)
    except OSError as error:
        print("%s: cannot run %s: %s" % (NAME, argv[0], error.strerror), file=sys.stderr)
        return 127
