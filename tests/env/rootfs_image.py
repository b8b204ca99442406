#!/usr/bin/env python3
"""An image archive for `docker load` from a root file system's tar on stdin: one layer, the
architecture given, Docker's save format (manifest.json, the config, the layer).

    tar -C ROOTFS -c . | rootfs_image.py --tag arm64v8/debian:bookworm --architecture arm64 \
        --label KEY=VALUE --cmd bash | docker load

`docker import` would record the engine's own architecture whatever the files are: Docker
20.10 takes its --platform only in experimental mode. A build for linux/arm64 then finds no
arm64 image by that name and tries a registry."""
import argparse
import datetime
import hashlib
import io
import json
import sys
import tarfile
import tempfile


def spooled_layer(source, spool):
    """Copies the layer's tar from source into spool; returns its sha256 (its diff ID)."""
    digest = hashlib.sha256()
    while True:
        block = source.read(1 << 20)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        spool.write(block)


def add_bytes(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True)
    parser.add_argument("--architecture", required=True, help="amd64, arm64, ...")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cmd", nargs="+", default=["bash"])
    args = parser.parse_args()
    labels = dict(label.split("=", 1) for label in args.label)
    with tempfile.TemporaryFile() as spool:
        diff_id = spooled_layer(sys.stdin.buffer, spool)
        config = json.dumps({
            "architecture": args.architecture, "os": "linux",
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": {"Cmd": args.cmd, "Labels": labels,
                       "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
            "history": [{"created_by": "debootstrap (tests/env/base-images.sh)"}],
        }, sort_keys=True).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        layer_name = diff_id + "/layer.tar"
        manifest = json.dumps([{"Config": config_name, "RepoTags": [args.tag], "Layers": [layer_name]}]).encode()
        with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as archive:
            spool.seek(0, io.SEEK_END)
            info = tarfile.TarInfo(layer_name)
            info.size = spool.tell()
            spool.seek(0)
            archive.addfile(info, spool)
            add_bytes(archive, config_name, config)
            add_bytes(archive, "manifest.json", manifest)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
