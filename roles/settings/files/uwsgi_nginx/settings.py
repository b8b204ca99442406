"""The environment contract: every setting a container takes from its environment, the role
variable it sets and what it accepts. This table is the one definition of what is valid: the
entrypoint checks the environment against it at every start, the playbook checks the role
variables against it (the uwsgi_nginx_* filters, ../../filter_plugins), and the templates count
`auto` with it. What a setting does and its default are its role variable's, written once in
that role's meta/argument_specs.yml; the README's settings table is generated from the three
(tests/env/role_docs.py), the image's defaults being the roles' with docker/image-vars.yml's
over them.

Python 2.7 and 3, standard library only."""
import json
import re

# An absolute path of letters, digits and . _ @ + -, no part starting with a dot: nothing a
# configuration file would need to quote, no way up (..).
PATH_PATTERN = r"(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+/?"
# A socket: such a path (unix), or [host]:port (TCP; no host: every address, for uWSGI, and
# loopback, for nginx). The host a name, an IPv4 address or an IPv6 one in brackets.
TCP_SOCKET_PATTERN = r"([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])?:[0-9]{1,5}"
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}
PATH_KINDS = ("file", "directory")


class Setting(object):
    """A row of the table.

    kind int: a whole number from minimum to maximum (no maximum: any); words are literals also
      accepted (auto); per_cpu, how many `auto` stands for per CPU; below, the variable of
      another setting it must stay under (0 always allowed).
    kind bool: 1/0, true/false, yes/no, on/off.
    kind text: the whole value matches pattern; accepts says the same in words; optional, the
      role variable may be empty (none; the environment cannot say empty: empty is unset).
    kind file, directory: an absolute path; named in the environment it must exist, a default
      that does not exist leaves the setting unset.
    kind socket: a unix socket's absolute path or a TCP [host]:port; optional as for text.
    follows: when the environment leaves this one unset, the first of these (variable, how)
      that it gives, or that follows one it gives, sets it: how(value) (None: the same).
    needs: when this one is on, what other settings must be: (variable, fits(value, values),
      what fits in words ({variable} for a setting's name), why)."""

    def __init__(self, env, variable, kind, minimum=None, maximum=None, words=(),
                 per_cpu=None, below=None, pattern=None, accepts=None, optional=False, follows=(), needs=()):
        self.env = env
        self.variable = variable
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.words = words
        self.per_cpu = per_cpu
        self.below = below
        self.pattern = pattern
        self.accepts_text = accepts
        self.optional = optional
        self.follows = follows
        self.needs = needs


def is_unix_socket(socket):
    return socket.startswith("/")


def websocket_socket(socket):
    """Where uWSGI takes WebSocket requests when only its socket is given: websocket.sock next
    to a unix socket; none beside a TCP one (there is no port to derive it from)."""
    return socket.rsplit("/", 1)[0] + "/websocket.sock" if is_unix_socket(socket) else ""


def kept_sockets(enabled, socket, processes, cpus):
    """uWSGI's sockets of each worker's own, to which nginx keeps its connections open
    (NGINX_UWSGI_KEEPALIVE): kept-N.sock beside its unix socket, for N from 1 to the number of
    workers (`auto` counted for cpus); none unless enabled."""
    if not enabled:
        return []
    directory = socket.rsplit("/", 1)[0]
    workers = int(count(processes, "uwsgi_processes", cpus))
    return ["%s/kept-%d.sock" % (directory, worker) for worker in range(1, workers + 1)]


def is_host_name(socket):
    """A TCP socket whose host is a name, not an address (nor left out)."""
    if is_unix_socket(socket):
        return False
    host = socket.rsplit(":", 1)[0]
    return bool(host) and not host.startswith("[") and not re.match(r"[0-9.]+\Z", host)


def nginx_address(socket):
    """A socket as nginx names it: unix:PATH, or host:port (no host: loopback)."""
    if is_unix_socket(socket):
        return "unix:" + socket
    return ("127.0.0.1" + socket) if socket.startswith(":") else socket


SETTINGS = (
    Setting("UWSGI_PROCESSES", "uwsgi_processes", "int", minimum=1, maximum=1024, words=("auto",), per_cpu=2),
    Setting("UWSGI_THREADS", "uwsgi_threads", "int", minimum=1, maximum=1024),
    Setting("UWSGI_CHEAPER", "uwsgi_cheaper", "int", minimum=0, below="uwsgi_processes"),
    Setting("UWSGI_HARAKIRI", "uwsgi_harakiri", "int", minimum=0, maximum=86400),
    Setting("UWSGI_MAX_REQUESTS", "uwsgi_max_requests", "int", minimum=0, maximum=1000000000),
    Setting("UWSGI_RELOAD_ON_RSS", "uwsgi_reload_on_rss", "int", minimum=0, maximum=1048576),
    Setting("UWSGI_INI", "uwsgi_app_ini", "file"),
    Setting("NGINX_MAX_UPLOAD", "nginx_client_max_body_size", "text", pattern="[0-9]+[kKmMgG]?",
            accepts="a size in bytes with an optional k, m or g suffix, 0 for no limit (e.g. 10m)"),
    Setting("NGINX_UWSGI_READ_TIMEOUT", "nginx_uwsgi_read_timeout", "int", minimum=1, maximum=86400),
    Setting("NGINX_UWSGI_MAX_TEMP_FILE_SIZE", "nginx_uwsgi_max_temp_file_size", "text", pattern="[0-9]+[kKmMgG]?",
            accepts="a size in bytes with an optional k, m or g suffix (e.g. 16m)"),
    Setting("NGINX_GZIP", "nginx_gzip", "bool"),
    Setting("NGINX_REAL_IP_FROM", "nginx_real_ip_from", "text",
            pattern=r"[0-9A-Fa-f.:]+(/[0-9]{1,3})?(,[0-9A-Fa-f.:]+(/[0-9]{1,3})?)*",
            accepts="addresses or CIDR blocks, comma-separated (e.g. 10.0.0.0/8,192.168.1.10)", optional=True),
    Setting("NGINX_ACCESS_LOG", "nginx_access_log_format", "text", pattern="main|json|off",
            accepts="main, json or off"),
    Setting("NGINX_WORKER_PROCESSES", "nginx_worker_processes", "int", minimum=1, maximum=1024, words=("auto",),
            per_cpu=1),
    Setting("NGINX_WORKER_CONNECTIONS", "nginx_worker_connections", "int", minimum=1, maximum=1048576),
    Setting("NGINX_WORKER_OPEN_FILES", "nginx_worker_rlimit_nofile", "int", minimum=0, maximum=1048576),
    Setting("LISTEN_PORT", "nginx_listen_port", "int", minimum=1, maximum=65535),
    Setting("NGINX_TLS_CERTIFICATE", "nginx_tls_certificate", "file"),
    Setting("NGINX_TLS_CERTIFICATE_KEY", "nginx_tls_certificate_key", "file"),
    Setting("NGINX_TLS_PORT", "nginx_tls_port", "int", minimum=1, maximum=65535),
    Setting("STATIC_URL", "nginx_static_url", "text", pattern=r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?",
            accepts="a URL path of letters, digits and . _ ~ - other than / (e.g. /static)"),
    Setting("STATIC_PATH", "nginx_static_path", "directory"),
    Setting("STATIC_INDEX", "nginx_static_index", "bool"),
    Setting("STATIC_FOLLOW_SYMLINKS", "nginx_static_follow_symlinks", "bool"),
    Setting("STATIC_DOTFILES", "nginx_static_dotfiles", "bool"),
    Setting("UWSGI_SOCKET", "uwsgi_socket", "socket"),
    Setting("UWSGI_WEBSOCKET_SOCKET", "uwsgi_websocket_socket", "socket", optional=True,
            follows=(("uwsgi_socket", websocket_socket),)),
    Setting("NGINX_UWSGI_SOCKET", "nginx_uwsgi_socket", "socket", follows=(("uwsgi_socket", None),)),
    Setting("NGINX_UWSGI_KEEPALIVE", "uwsgi_kept_sockets", "bool", needs=(
        ("uwsgi_socket", lambda value, values: is_unix_socket(value), "a unix socket",
         "the kept sockets are made beside it"),
        ("uwsgi_cheaper", lambda value, values: value == 0, "0",
         "each worker has its own socket, which a worker cheaper stopped would leave unanswered"),
        ("nginx_uwsgi_socket", lambda value, values: value == values.get("uwsgi_socket", value),
         "the same as {uwsgi_socket}", "nginx reaches the kept sockets by their paths, beside uWSGI"))),
    Setting("NGINX_UWSGI_WEBSOCKET_SOCKET", "nginx_uwsgi_websocket_socket", "socket", optional=True,
            follows=(("uwsgi_websocket_socket", None), ("nginx_uwsgi_socket", websocket_socket))),
    Setting("PRE_START_PATH", "entrypoint_prestart_script", "file"),
    Setting("DRAIN_SECONDS", "entrypoint_drain_seconds", "int", minimum=0, maximum=3600),
    Setting("METRICS_PORT", "entrypoint_metrics_port", "int", minimum=0, maximum=65535),
)
BY_VARIABLE = dict((setting.variable, setting) for setting in SETTINGS)


class Invalid(Exception):
    """Settings that are not valid; args[0] is the list of messages, one per setting."""


def shown(value):
    """A value as a message quotes it: in double quotes, escaped, on one line."""
    if isinstance(value, bytes):  # Python 2's environment: bytes, maybe not UTF-8
        value = value.decode("utf-8", "replace")
    return json.dumps(value)


def full_match(pattern, value):
    return re.match(r"(?:%s)\Z" % pattern, value) is not None


def count(value, variable, cpus):
    """A count setting's value as a number: `auto` is per_cpu times the CPUs."""
    setting = BY_VARIABLE[variable]
    if value == "auto" and setting.per_cpu:
        return setting.per_cpu * cpus
    return value


def per_cpu(variable):
    """How many `auto` stands for per CPU."""
    return BY_VARIABLE[variable].per_cpu


def accepts(setting, name, values=None, cpus=None):
    """What a setting accepts, in words; name(setting) is how settings are named (environment
    variable or role variable). With values and cpus, a limit is given with its value."""
    if setting.kind == "int":
        text = "a whole number from %d" % setting.minimum
        if setting.maximum is not None:
            text += " to %d" % setting.maximum
        if setting.below:
            limit = BY_VARIABLE[setting.below]
            text += ", 0 or less than %s" % name(limit)
            if values is not None:
                text += " (%s)" % count(values[limit.variable], limit.variable, cpus)
        for word in setting.words:
            text += " or %s" % word
        return text
    if setting.kind == "bool":
        return "one of 1, 0, true, false, yes, no, on, off"
    if setting.kind == "text":
        return setting.accepts_text
    if setting.kind == "socket":
        return "an absolute path (a unix socket) or [host]:port (TCP, e.g. :3031, 127.0.0.1:3031, uwsgi:3031)"
    return "an absolute path of letters, digits and . _ @ + - (no part starting with .)"


def parse(setting, text):
    """The value of a setting given as text, or None when the text is not valid."""
    if text in setting.words:
        return text
    if setting.kind == "int":
        if full_match("[0-9]+", text):
            number = int(text)
            if number >= setting.minimum and (setting.maximum is None or number <= setting.maximum):
                return number
    elif setting.kind == "bool":
        return BOOLEANS.get(text.lower())
    elif setting.kind == "text":
        if full_match(setting.pattern, text):
            return text
    elif setting.kind == "socket":
        if full_match(PATH_PATTERN, text) or (full_match(TCP_SOCKET_PATTERN, text)
                                              and 1 <= int(text.rsplit(":", 1)[1]) <= 65535):
            return text
    elif text and full_match(PATH_PATTERN, text):
        return text
    return None


def check(texts, values, cpus, name):
    """Parses texts ({variable: text}) into values ({variable: value}, updated in place);
    raises Invalid with a message per bad setting: one that does not parse, or one not below
    its limit (checked once all parse)."""
    messages = []

    def refuse(setting, text):
        messages.append("%s=%s: expected %s" % (name(setting), shown(text), accepts(setting, name, values, cpus)))
    for setting in SETTINGS:
        if setting.variable not in texts:
            continue
        value = parse(setting, texts[setting.variable])
        if value is None:
            refuse(setting, texts[setting.variable])
        else:
            values[setting.variable] = value
    for setting in SETTINGS:
        if messages or not setting.below or setting.variable not in values or setting.below not in values:
            continue
        value = values[setting.variable]
        if value != 0 and value >= count(values[setting.below], setting.below, cpus):
            refuse(setting, str(value))
    if messages:
        raise Invalid(messages)


def check_needs(texts, values, name):
    """Raises Invalid with a message per need of a setting that is on that values do not meet."""
    names = dict((setting.variable, name(setting)) for setting in SETTINGS)
    messages = []
    for setting in SETTINGS:
        if not values.get(setting.variable):
            continue
        for variable, fits, expected, why in setting.needs:
            if variable in values and not fits(values[variable], values):
                messages.append("%s=%s: expected %s %s, not %s: %s" % (
                    name(setting), shown(texts.get(setting.variable, "on")), name(BY_VARIABLE[variable]),
                    expected.format(**names), shown(str(values[variable])), why))
    if messages:
        raise Invalid(messages)


def follow(values, given):
    """Sets, in values, the settings that follow one among given (variables) and are not given
    themselves; returns the variables given or set so."""
    chosen = set(given)
    for setting in SETTINGS:
        if setting.variable in chosen or setting.variable not in values:
            continue
        for variable, how in setting.follows:
            if variable in chosen:
                values[setting.variable] = how(values[variable]) if how else values[variable]
                chosen.add(setting.variable)
                break
    return chosen


def from_environment(environ, values, cpus, roles=None):
    """The settings the environment gives (an empty value counts as unset) applied to values,
    the role variables the build recorded (settings whose variable is not there are not this
    container's), and those that follow them; with roles, only the settings of those roles
    (variables named role_*) and those they follow. Returns the variables set. Raises Invalid."""
    def own(setting):
        return roles is None or setting.variable.split("_", 1)[0] in roles
    wanted = set(setting.variable for setting in SETTINGS if own(setting))
    wanted.update(variable for setting in SETTINGS if own(setting) for variable, _ in setting.follows)
    texts = dict((setting.variable, environ[setting.env]) for setting in SETTINGS
                 if setting.variable in values and setting.variable in wanted and environ.get(setting.env, "") != "")
    check(texts, values, cpus, lambda setting: setting.env)
    chosen = follow(values, set(texts))
    check_needs(texts, values, lambda setting: setting.env)
    derive(values, cpus)
    return chosen


def derive(values, cpus):
    """What wiring.yml derives for one role from another's settings, derived again from the
    values a start resolved: nginx's kept sockets, uWSGI's of each worker."""
    inputs = ("uwsgi_kept_sockets", "uwsgi_socket", "uwsgi_processes")
    if "nginx_uwsgi_kept_sockets" in values and all(variable in values for variable in inputs):
        values["nginx_uwsgi_kept_sockets"] = kept_sockets(*[values[variable] for variable in inputs], cpus=cpus)


def variable_errors(variables, cpus):
    """Messages for the role variables (as Ansible holds them) that the table refuses; an empty
    path means none. Settings whose variable is not given are not checked."""
    texts = {}
    for setting in SETTINGS:
        if setting.variable not in variables:
            continue
        value = variables[setting.variable]
        if value == "" and (setting.kind in PATH_KINDS or setting.optional):
            continue
        texts[setting.variable] = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        values = dict(variables)
        check(texts, values, cpus, lambda setting: setting.variable)
        check_needs(texts, values, lambda setting: setting.variable)
    except Invalid as invalid:
        return invalid.args[0]
    return []


def environment_names(variables):
    """The environment variables of the settings among variables."""
    return set(setting.env for setting in SETTINGS if setting.variable in variables)


# For Ansible (filter_plugins/uwsgi_nginx_filters.py) and the entrypoint's own Jinja2: the
# templates count `auto` with these, as the checks do.
FILTERS = {
    "uwsgi_nginx_count": count,
    "uwsgi_nginx_per_cpu": per_cpu,
    "uwsgi_nginx_setting_errors": variable_errors,
    "uwsgi_nginx_websocket_socket": websocket_socket,
    "uwsgi_nginx_address": nginx_address,
    "uwsgi_nginx_is_unix_socket": is_unix_socket,
    "uwsgi_nginx_is_host_name": is_host_name,
    "uwsgi_nginx_kept_sockets": kept_sockets,
}
