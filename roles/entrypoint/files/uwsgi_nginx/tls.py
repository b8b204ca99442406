"""What a start checks of nginx's TLS settings before anything starts, beyond what the contract
checks of each alone (an existing file, a port): the certificate and its key come together,
readable by the user the start runs as (nginx's master reads them as that user), the one a PEM
certificate, the other its key. The checks load both as OpenSSL, which nginx links to, loads
them. Python 2.7.9 and later, and 3; standard library only."""
import ssl

from uwsgi_nginx.settings import shown

CERTIFICATE, KEY, PORT = "nginx_tls_certificate", "nginx_tls_certificate_key", "nginx_tls_port"


class Encrypted(Exception):
    """The key asked for a passphrase (nginx would prompt for it on a terminal)."""


def passphrase():
    raise Encrypted()


def unreadable(path):
    """Why path cannot be read, or None."""
    try:
        with open(path, "rb") as pem:
            pem.read(1)
    except (IOError, OSError) as error:
        return error.strerror
    return None


def openssl_says(error):
    """OpenSSL's reason, in words, when it gives one."""
    return " (%s)" % error.reason.replace("_", " ").lower() if error.reason else ""


def problems(variables, name):
    """Messages, one per bad setting (name(variable): its environment variable), for the TLS
    settings among variables; [] when they are good or not given."""
    certificate, key = variables.get(CERTIFICATE), variables.get(KEY)
    if not certificate and not key:
        return []
    if not (certificate and key):
        given, missing = (CERTIFICATE, KEY) if certificate else (KEY, CERTIFICATE)
        return ["%s: not given, and %s needs it" % (name(missing), name(given))]
    messages = []
    port, listen_port = variables.get(PORT), variables.get("nginx_listen_port")
    if port == listen_port:
        messages.append("%s=%s: expected a port other than %s's (%s)" % (
            name(PORT), shown(str(port)), name("nginx_listen_port"), listen_port))
    for variable in (CERTIFICATE, KEY):
        reason = unreadable(variables[variable])
        if reason:
            messages.append("%s=%s: cannot be read (%s)" % (name(variable), shown(variables[variable]), reason))
    if messages:
        return messages
    context = ssl.SSLContext(getattr(ssl, "PROTOCOL_TLS_SERVER", ssl.PROTOCOL_SSLv23))
    try:
        context.load_verify_locations(cafile=certificate)
    except ssl.SSLError as error:
        return ["%s=%s: not a PEM certificate%s" % (name(CERTIFICATE), shown(certificate), openssl_says(error))]
    try:
        context.load_cert_chain(certificate, key, password=passphrase)
    except Encrypted:
        return ["%s=%s: has a passphrase, which nginx would ask for on a terminal" % (name(KEY), shown(key))]
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            return ["%s=%s: does not match %s" % (name(KEY), shown(key), name(CERTIFICATE))]
        return ["%s=%s: not a PEM private key%s" % (name(KEY), shown(key), openssl_says(error))]
    return []
