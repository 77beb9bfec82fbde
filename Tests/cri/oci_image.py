"""The sandbox image of the CRI tier, built offline: pause.c compiled static, in a one-layer OCI
image archive that `ctr images import` takes. No registry is reachable from the test machines."""

import hashlib
import io
import json
import os
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
PAUSE_SOURCE = os.path.join(HERE, "pause.c")
IMAGE_NAME = "localhost/weft-test/pause:1"


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_bytes(members):
    """A deterministic tar: (name, bytes, mode) regular files, root-owned, mtime 0."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_pause(out_dir):
    """Compiles pause.c statically into out_dir/pause (skipped when the source has not changed)."""
    os.makedirs(out_dir, exist_ok=True)
    binary = os.path.join(out_dir, "pause")
    stamp = binary + ".source-sha256"
    with open(PAUSE_SOURCE, "rb") as source:
        source_hash = hashlib.sha256(source.read()).hexdigest()
    if os.path.exists(binary) and os.path.exists(stamp):
        with open(stamp) as recorded:
            if recorded.read() == source_hash:
                return binary
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", binary + ".tmp", PAUSE_SOURCE],
                   check=True, timeout=120)
    os.replace(binary + ".tmp", binary)
    with open(stamp, "w") as out:
        out.write(source_hash)
    return binary


def build_archive(out_dir, name=IMAGE_NAME):
    """Writes out_dir/pause-oci.tar: oci-layout, index.json (ref.name = name), manifest, config and
    one uncompressed layer holding /pause. Returns the archive's path."""
    with open(build_pause(out_dir), "rb") as binary:
        pause = binary.read()
    layer = _tar_bytes([("pause", pause, 0o755)])
    config = _json({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        "history": [{"created_by": "Tests/cri/oci_image.py: static pause from pause.c"}],
    })
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer), "size": len(layer)}],
    })
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": _digest(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": name}}],
    })
    blobs = [(f"blobs/sha256/{_digest(blob)[7:]}", blob, 0o644) for blob in (layer, config, manifest)]
    archive = _tar_bytes([("oci-layout", _json({"imageLayoutVersion": "1.0.0"}), 0o644),
                          ("index.json", index, 0o644)] + blobs)
    path = os.path.join(out_dir, "pause-oci.tar")
    with open(path + ".tmp", "wb") as out:
        out.write(archive)
    os.replace(path + ".tmp", path)
    return path


if __name__ == "__main__":
    import sys
    print(build_archive(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../.build/cri")))
