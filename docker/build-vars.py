"""Print, as JSON for ansible-playbook --extra-vars, the role variables named by the build
arguments that were given a value. An empty build argument keeps the role's default."""
import json
import os


def comma_list(value):
    return [item.strip() for item in value.split(",") if item.strip()]


BUILD_ARGUMENTS = {
    "NGINX_SOURCE": ("nginx_source", str),
    "NGINX_CHANNEL": ("nginx_channel", str),
    "NGINX_REPO_URL": ("nginx_repo_url", str),
    "NGINX_SIGNING_KEY_URL": ("nginx_signing_key_url", str),
    "NGINX_KEY_FINGERPRINTS": ("nginx_key_fingerprints", comma_list),
    "UWSGI_VERSION": ("uwsgi_version", str),
    "DEBIAN_ARCHIVE_URL": ("debian_archive_url", str),
    "DEBIAN_ARCHIVE_SECURITY_URL": ("debian_archive_security_url", str),
    "DEBIAN_EOL_RELEASES": ("debian_eol_releases", comma_list),
}

extra_vars = {}
for argument, (variable, convert) in sorted(BUILD_ARGUMENTS.items()):
    value = os.environ.get(argument, "")
    if value:
        extra_vars[variable] = convert(value)
# Free-form JSON for any other role variable (last, so it wins).
extra_vars.update(json.loads(os.environ.get("ANSIBLE_EXTRA_VARS") or "{}"))
print(json.dumps(extra_vars))
