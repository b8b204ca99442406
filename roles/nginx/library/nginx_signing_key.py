#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Download an OpenPGP signing key and install it as an apt keyring, if every primary key in
it has an allowed fingerprint. Runs on Python 2.7 and 3, with no gpg on the machine."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nginx_signing_key
short_description: Install an apt signing key after checking its fingerprints
description:
  - Downloads an OpenPGP public key (ASCII-armored or binary), computes the fingerprint of
    every primary key in it and refuses the download unless all of them are in O(fingerprints).
  - Writes the key, de-armored, to O(dest) for use with apt's C(signed-by).
options:
  url:
    description: Where to download the key.
    type: str
    required: true
  dest:
    description: The keyring file to write.
    type: path
    required: true
  fingerprints:
    description: Allowed primary-key fingerprints (40 hex digits; spaces and case are ignored).
    type: list
    elements: str
    required: true
"""

RETURN = r"""
fingerprints:
  description: Fingerprints of the primary keys found in the download.
  returned: always
  type: list
  elements: str
"""

import base64
import hashlib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url

PUBLIC_KEY_TAG = 6
ARMOR_BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMOR_END = b"-----END PGP PUBLIC KEY BLOCK-----"


def dearmor(data):
    """Return the binary packets of an ASCII-armored key, or the data as given if not armored."""
    start = data.find(ARMOR_BEGIN)
    if start < 0:
        return data
    end = data.find(ARMOR_END, start)
    if end < 0:
        raise ValueError("armored key has no END line")
    lines = data[start:end].splitlines()[1:]
    # Armor headers ("Version: ...") end at the first blank line; the "=" line is a checksum.
    if b"" in [line.strip() for line in lines]:
        lines = lines[[line.strip() for line in lines].index(b"") + 1:]
    body = b"".join(line.strip() for line in lines if not line.startswith(b"="))
    return base64.b64decode(body)


def packets(data):
    """Yield (tag, body) for each OpenPGP packet (RFC 4880 section 4.2)."""
    data = bytearray(data)
    pos = 0
    while pos < len(data):
        header = data[pos]
        if not header & 0x80:
            raise ValueError("not an OpenPGP packet at byte %d" % pos)
        if header & 0x40:  # new format
            tag = header & 0x3F
            first = data[pos + 1]
            if first < 192:
                length, pos = first, pos + 2
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 2] + 192, pos + 3
            elif first == 255:
                length = (data[pos + 2] << 24) | (data[pos + 3] << 16) | (data[pos + 4] << 8) | data[pos + 5]
                pos += 6
            else:
                raise ValueError("partial body lengths do not occur in keys")
        else:  # old format
            tag = (header >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(header & 0x03)
            if size is None:
                raise ValueError("indeterminate packet length")
            length = 0
            for byte in data[pos + 1:pos + 1 + size]:
                length = (length << 8) | byte
            pos += 1 + size
        yield tag, bytes(data[pos:pos + length])
        pos += length


def fingerprint(body):
    """The fingerprint of a version 4 public-key packet body."""
    version = bytearray(body[:1])[0]
    if version != 4:
        raise ValueError("OpenPGP key version %d is not supported" % version)
    digest = hashlib.sha1(b"\x99" + bytearray([len(body) >> 8, len(body) & 0xFF]) + body)
    return digest.hexdigest().upper()


def normalize(value):
    return re.sub(r"\s", "", value).upper()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            fingerprints=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    url, dest = module.params["url"], module.params["dest"]
    allowed = set(normalize(value) for value in module.params["fingerprints"])

    response, info = fetch_url(module, url)
    if info["status"] != 200:
        module.fail_json(msg="could not download the signing key from %s: %s" % (url, info.get("msg")))
    downloaded = response.read()

    try:
        keyring = dearmor(downloaded)
        found = [fingerprint(body) for tag, body in packets(keyring) if tag == PUBLIC_KEY_TAG]
    except (ValueError, TypeError, IndexError) as error:
        module.fail_json(msg="%s is not an OpenPGP public key: %s" % (url, error))
    if not found:
        module.fail_json(msg="%s holds no OpenPGP public key" % url)
    refused = sorted(set(found) - allowed)
    if refused:
        module.fail_json(
            msg="refusing the signing key from %s: fingerprint(s) %s not in nginx_key_fingerprints (%s)"
            % (url, ", ".join(refused), ", ".join(sorted(allowed))),
            fingerprints=found,
        )

    current = None
    if os.path.exists(dest):
        with open(dest, "rb") as existing:
            current = existing.read()
    changed = current != keyring
    if changed and not module.check_mode:
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(dest))
        with os.fdopen(handle, "wb") as output:
            output.write(keyring)
        os.chmod(temporary, 0o644)
        module.atomic_move(temporary, dest)
    module.exit_json(changed=changed, fingerprints=found)


if __name__ == "__main__":
    main()
