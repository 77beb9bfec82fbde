#!/usr/bin/env python3
"""Container images built offline, as one-layer OCI image archives that `ctr images import` takes.

No registry is reachable from our machines, so every image a test needs is assembled here from
files already on the machine:

- pause   (k8s.gcr.io/pause:3.2, the sandbox image of kubelet 1.20 and the e2e framework):
          Tests/cri/pause.c compiled static (Tests/cri/oci_image.build_pause);
- agnhost (k8s.gcr.io/e2e-test-images/agnhost:2.21, the name test/utils/image/manifest.go gives):
          the agnhost binary built from the Kubernetes tree, busybox-static for the coreutils, and the
          Debian programs the e2e tests exec inside it (dash as /bin/sh, bash, curl, nc from
          netcat-openbsd, ip, ss) with the shared libraries ldd names, as upstream's Alpine image has them;
- busybox (docker.io/library/busybox:1.29): busybox-static and its applet links;
- weft    (localhost/weft:<version> and localhost/weft:latest): the release binaries weft,
          weft-ipam, weftctl and weftd (stripped) in /opt/weft/bin (the install script copies the
          first three into the node's CNI bin dir; weftd runs in the DaemonSet's container, with the
          shared libraries ldd names), and busybox for the install script (which only copies files).

Usage: images.py k8s OUT_DIR KUBE_BIN_DIR KUBE_TREE   -> OUT_DIR/{pause,agnhost,busybox}.tar
       images.py weft OUT_TAR VERSION BIN_DIR          -> the Weft image
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Tests", "cri"))
import oci_image  # noqa: E402  (Tests/cri: the static pause binary)

PAUSE_IMAGE = "k8s.gcr.io/pause:3.2"
AGNHOST_IMAGE = "k8s.gcr.io/e2e-test-images/agnhost:2.21"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.29"
BUSYBOX = "/bin/busybox"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Layer:
    """A root filesystem as a list of tar members: directories, regular files and symlinks,
    root-owned with mtime 0 so the same inputs give the same digest."""

    def __init__(self):
        self.entries = {}  # path -> ("dir"|"file"|"link", payload, mode)

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent and parent not in self.entries:
                self.entries[parent] = ("dir", None, 0o755)

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("dir", None, mode)

    def data(self, path, data, mode=0o644):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("file", data, mode)

    def file(self, path, source, mode=None):
        with open(source, "rb") as f:
            data = f.read()
        self.data(path, data, mode if mode is not None else (os.stat(source).st_mode & 0o7777))

    def link(self, path, target):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = ("link", target, 0o777)

    def busybox(self, skip=()):
        """busybox-static at /bin/busybox and a link for each applet (except `skip`)."""
        self.file("bin/busybox", BUSYBOX, 0o755)
        applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if os.path.basename(applet) in skip or applet == "bin/busybox":
                continue
            self.link(applet, "/bin/busybox")
        for d in ("tmp", "root", "etc", "proc", "sys", "dev", "var/run"):
            self.dir(d, 0o1777 if d == "tmp" else 0o755)
        self.data("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        self.data("etc/group", b"root:x:0:\nnogroup:x:65534:\n")

    def glibc_binary(self, path, source):
        """A dynamically linked Debian binary and every library ldd resolves for it, at the same paths."""
        self.file(path, os.path.realpath(source), 0o755)
        listing = subprocess.run(["ldd", source], capture_output=True, text=True, check=True).stdout
        for line in listing.splitlines():
            line = line.strip()
            library = None
            if "=>" in line:
                target = line.split("=>", 1)[1].split("(")[0].strip()
                library = target or None
            elif line.startswith("/"):
                library = line.split("(")[0].strip()
            if library and os.path.exists(library):
                # Keep the path ldd printed (the loader looks there) with the resolved file's bytes.
                self.file(library, os.path.realpath(library), 0o755)

    def tar(self):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path in sorted(self.entries):
                kind, payload, mode = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mtime, info.mode, info.uid, info.gid = 0, mode, 0, 0
                info.uname = info.gname = "root"
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    archive.addfile(info)
                elif kind == "link":
                    info.type = tarfile.SYMTYPE
                    info.linkname = payload
                    archive.addfile(info)
                else:
                    info.size = len(payload)
                    archive.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()


def write_archive(path, refs, layer, entrypoint=None, cmd=None, env=(DEFAULT_PATH,), created_by=""):
    """An OCI image layout in a tar: oci-layout, index.json naming the manifest once per ref, the
    manifest, the config and one uncompressed layer. Returns the manifest digest."""
    layer_bytes = layer.tar()
    container_config = {"Env": list(env), "WorkingDir": "/"}
    if entrypoint:
        container_config["Entrypoint"] = entrypoint
    if cmd:
        container_config["Cmd"] = cmd
    config = _json({
        "architecture": "amd64", "os": "linux", "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer_bytes)]},
        "history": [{"created_by": created_by or "scripts/k8s/images.py"}],
    })
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(layer_bytes),
                    "size": len(layer_bytes)}],
    })
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(manifest),
                       "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": ref}} for ref in refs],
    })
    outer = Layer()
    outer.data("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    outer.data("index.json", index)
    for blob in (layer_bytes, config, manifest):
        outer.data(f"blobs/sha256/{_digest(blob)[7:]}", blob)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "wb") as out:
        out.write(outer.tar())
    os.replace(path + ".tmp", path)
    return _digest(manifest)


def k8s_images(out_dir, kube_bin, tree):
    os.makedirs(out_dir, exist_ok=True)
    pause = Layer()
    pause.file("pause", oci_image.build_pause(os.path.join(out_dir, "pause-build")), 0o755)
    write_archive(os.path.join(out_dir, "pause.tar"), [PAUSE_IMAGE], pause, entrypoint=["/pause"],
                  created_by="static pause from Tests/cri/pause.c")

    agnhost = Layer()
    agnhost.file("agnhost", os.path.join(kube_bin, "agnhost"), 0o755)
    agnhost.link("agnhost-2", "agnhost")
    # Debian's busybox shell runs its own applets before searching PATH (standalone shell), so the
    # shells are Debian's dash (/bin/sh) and bash, and the tools busybox also has are not linked to it.
    tools = {"bin/sh": "/bin/dash", "bin/bash": "/bin/bash", "usr/bin/curl": "/usr/bin/curl",
             "usr/bin/nc": "/bin/nc.openbsd", "sbin/ip": "/usr/sbin/ip", "usr/bin/ss": "/usr/bin/ss"}
    agnhost.busybox(skip={os.path.basename(path) for path in tools})
    for path, source in tools.items():
        agnhost.glibc_binary(path, source)
    porter = os.path.join(tree, "test", "images", "agnhost", "porter")
    agnhost.file("localhost.crt", os.path.join(porter, "localhost.crt"), 0o644)
    agnhost.file("localhost.key", os.path.join(porter, "localhost.key"), 0o644)
    agnhost.dir("uploads")
    write_archive(os.path.join(out_dir, "agnhost.tar"), [AGNHOST_IMAGE], agnhost, entrypoint=["/agnhost"],
                  cmd=["pause"], created_by="agnhost from the Kubernetes tree, busybox-static, Debian's curl/nc/ip/ss")

    busybox = Layer()
    busybox.busybox()
    write_archive(os.path.join(out_dir, "busybox.tar"), [BUSYBOX_IMAGE], busybox, cmd=["sh"],
                  created_by="Debian busybox-static")
    return [os.path.join(out_dir, name) for name in ("pause.tar", "agnhost.tar", "busybox.tar")]


def weft_image(out_tar, version, bin_dir, refs=None, release_note=None):
    """bin_dir holds weft, weft-ipam, weftctl and weftd (stripped copies go into the image: the node
    needs no debug info). `refs` replaces the default tags; `release_note` adds /opt/weft/RELEASE, which
    makes the image a different one (another layer, config and digest) around the same binaries: the
    e2e's rolling update goes to it, so the nodes pull, unpack and run a new image."""
    layer = Layer()
    if release_note is not None:
        layer.data("opt/weft/RELEASE", release_note.encode())
    layer.busybox()
    for name in ("weft", "weft-ipam", "weftctl", "weftd"):
        with tempfile.TemporaryDirectory() as scratch:
            stripped = os.path.join(scratch, name)
            subprocess.run(["strip", "-o", stripped, os.path.join(bin_dir, name)], check=True)
            if name == "weftd":
                # Runs in the container, not on the node: with the libraries it links (libc, libstdc++,
                # libmnl, libnftnl, ...) and the loader, as ldd finds them here.
                layer.glibc_binary(f"opt/weft/bin/{name}", stripped)
            else:
                layer.file(f"opt/weft/bin/{name}", stripped, 0o755)
    refs = refs or [f"localhost/weft:{version}", "localhost/weft:latest"]
    digest = write_archive(out_tar, refs, layer, cmd=["sh"],
                           created_by=f"make image: weft {version}, weft-ipam, weftctl, weftd, busybox-static")
    return refs, digest


def main(argv):
    if len(argv) == 5 and argv[1] == "k8s":
        for path in k8s_images(argv[2], argv[3], argv[4]):
            print(path)
    elif len(argv) == 5 and argv[1] == "weft":
        refs, digest = weft_image(argv[2], argv[3], argv[4])
        print(f"{argv[2]}: {' '.join(refs)} {digest}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
