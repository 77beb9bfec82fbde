"""A throwaway Kubernetes node driven through containerd's CRI, as kubelet drives it.

Each CriNode owns:
- a "node" network namespace `wt-<8 hex>-node` (bridge, host veths, nft table `inet weft`) joined by a
  veth to an "outside" namespace `wt-<8 hex>-out`, so the node has a real interface address;
- a private mount namespace held by a `sleep` process: a fresh /run (with the host's /run/netns bound
  in), /var/lib/cni (libcni's result cache) and, for the flannel test, /run/flannel and /run/weft.
  Every mount containerd makes (pod netns files, shim rootfs, shm) lives only there, so the host's mount
  table and its /var/lib/cni are never touched, and the mounts vanish with the last process;
- a private containerd (own root, state, socket and config in /tmp/weft-test-<id>-cri-*), started
  with `nsenter --mount=<holder> --net=/var/run/netns/<node>` (not `ip netns exec`, which remounts
  /sys and hides the cgroup mounts);
- a CNI bin dir with weft and weft-ipam (beside WEFT_BIN, as `make install` lays them out) and the
  reference `loopback` (go-cni always sets up the pod's lo through it) plus any plugin a conflist chains.

`destroy()` (registered with addCleanup before anything is created) stops everything it started by PID:
the sandboxes through CRI, containerd, the shims and pause processes of this containerd, servers,
the holder; then deletes the namespaces and the temp dir.
"""

import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

from cri_client import CriClient, READY
import oci_image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lib import containerd, netns  # noqa: E402  scripts/lib: what the e2e cluster's nodes use too
from lib.commands import PATH_ENV, run, wait_until  # noqa: E402
from lib.mount_namespace import start_holder  # noqa: E402
from lib.processes import kill_pid, log_tail, process_table, start, stop_process, wait_listening  # noqa: E402

BUILD_DIR = os.path.join(REPO, ".build", "cri")
REFERENCE_PLUGINS = "/usr/lib/cni"
UPLINK = "up0"


def weft_bin():
    path = os.environ.get("WEFT_BIN") or os.path.join(REPO, ".build", "debug", "weft")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"weft binary not found at {path}: set WEFT_BIN (make test does)")
    return path


class CriNode:
    def __init__(self, test, label, subnet=None, conflist=None, chained_plugins=(), flannel_env=None,
                 node_ip="192.0.2.1", outside_ip="192.0.2.2"):
        """`conflist` overrides the default Weft-only conflist (then `network` is read from it);
        `flannel_env` is written to /run/flannel/subnet.env inside the node and /run/weft is private."""
        self.test = test
        self.id = secrets.token_hex(4)
        self.node_ns = f"wt-{self.id}-node"
        self.outside_ns = f"wt-{self.id}-out"
        self.node_ip, self.outside_ip = node_ip, outside_ip
        self.subnet = ipaddress.ip_network(subnet) if subnet else None
        self.flannel_env = flannel_env
        self.dir = None
        self.holder = None
        self.containerd = None
        self.servers = []
        self.sandboxes = set()
        self.cri = None
        self.made_var_lib_cni = False
        test.addCleanup(self.destroy)
        self.dir = tempfile.mkdtemp(prefix=f"weft-test-{self.id}-cri-{label}-", dir="/tmp")
        for sub in ("root", "state", "net.d", "bin", "store", "logs", "cni-cache", "run", "www"):
            os.makedirs(os.path.join(self.dir, sub))
        self.bin_dir = os.path.join(self.dir, "bin")
        self.socket = os.path.join(self.dir, "containerd.sock")
        self.config_path = os.path.join(self.dir, "config.toml")
        self.data_dir = os.path.join(self.dir, "store")
        if conflist is None:
            self.network = f"wtcri-{self.id}"
            conflist = {"cniVersion": "1.0.0", "name": self.network, "plugins": [{
                "type": "weft", "subnet": str(self.subnet), "ipMasq": True, "isDefaultGateway": True,
                "dataDir": self.data_dir, "capabilities": {"portMappings": True, "bandwidth": True}}]}
        self.conflist = conflist
        self.network = conflist["name"]
        self.chained_plugins = tuple(chained_plugins)

    # ---- setup ----------------------------------------------------------------------------------

    def start(self):
        self._make_network()
        self._make_mount_namespace()
        self._make_plugin_dir()
        with open(os.path.join(self.dir, "net.d", "10-weft.conflist"), "w") as out:
            json.dump(self.conflist, out)
        self._write_config()
        self.start_containerd()
        self._import_image()
        return self

    def _make_network(self):
        netns.add(self.node_ns)
        netns.add(self.outside_ns)
        # Both ends are born inside their namespaces: nothing appears in the host's root namespace.
        netns.add_veth(self.node_ns, UPLINK, self.outside_ns, UPLINK)
        run(["ip", "-n", self.node_ns, "addr", "add", f"{self.node_ip}/24", "dev", UPLINK])
        run(["ip", "-n", self.outside_ns, "addr", "add", f"{self.outside_ip}/24", "dev", UPLINK])
        run(["ip", "-n", self.node_ns, "link", "set", UPLINK, "up"])
        run(["ip", "-n", self.outside_ns, "link", "set", UPLINK, "up"])

    def _make_mount_namespace(self):
        if not os.path.isdir("/var/lib/cni"):
            # The mount point for the private libcni cache; an empty directory, removed again by destroy.
            os.makedirs("/var/lib/cni", mode=0o700)
            self.made_var_lib_cni = True
        run_dir = os.path.join(self.dir, "run")
        script = [
            f"mkdir -p {run_dir}/netns {run_dir}/containerd {run_dir}/flannel {run_dir}/weft",
            f"mount --rbind /run/netns {run_dir}/netns",
            f"mount --rbind {run_dir} /run",
            f"mount --bind {self.dir}/cni-cache /var/lib/cni",
        ]
        if self.flannel_env is not None:
            script += ["mount -t tmpfs -o mode=0755 tmpfs /run/flannel",
                       "mount -t tmpfs -o mode=0700 tmpfs /run/weft",
                       f"printf '%s' '{self.flannel_env}' > /run/flannel/subnet.env"]
        self.holder = start_holder(script, f"the CRI node {self.id}", timeout=15)
        self.mount_ns = f"/proc/{self.holder.pid}/ns/mnt"
        self.root_view = f"/proc/{self.holder.pid}/root"

    def _make_plugin_dir(self):
        weft = weft_bin()
        for name in ("weft", "weft-ipam"):
            source = os.path.join(os.path.dirname(weft), name)
            if os.path.exists(source):
                os.symlink(source, os.path.join(self.bin_dir, name))
        for name in ("loopback",) + self.chained_plugins:
            shutil.copy2(os.path.join(REFERENCE_PLUGINS, name), os.path.join(self.bin_dir, name))

    def _write_config(self):
        d = self.dir
        containerd.write_config(self.config_path, root=f"{d}/root", state=f"{d}/state", socket=self.socket,
                                sandbox_image=oci_image.IMAGE_NAME, bin_dir=self.bin_dir, conf_dir=f"{d}/net.d")

    def start_containerd(self, timeout=30):
        """Starts (or restarts, on the same root, state and config) this node's containerd."""
        assert self.containerd is None or self.containerd.poll() is not None, "containerd already running"
        if self.cri:
            self.cri.close()
            self.cri = None
        self.containerd = start(netns.enter(netns.path(self.node_ns), mount=self.mount_ns)
                                + ["containerd", "--config", self.config_path], os.path.join(self.dir, "containerd.log"))
        wait_listening(self.socket, timeout, "the containerd socket", interval=0.05,
                       exited=lambda: None if self.containerd.poll() is None else
                       f"containerd exited with {self.containerd.returncode}: {self.log_tail()}")
        self.cri = CriClient(self.socket)
        wait_until(lambda: self._network_ready(), timeout, interval=0.1, what="CRI NetworkReady")

    def _network_ready(self):
        try:
            return self.cri.network_ready()
        except Exception:
            if self.containerd.poll() is not None:
                raise RuntimeError(f"containerd exited: {self.log_tail()}")
            return False

    def _import_image(self):
        archive = oci_image.build_archive(BUILD_DIR)
        run(["ctr", "--address", self.socket, "-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs",
             archive], timeout=60)
        listing = run(["ctr", "--address", self.socket, "-n", "k8s.io", "images", "ls", "-q"]).stdout.split()
        if oci_image.IMAGE_NAME not in listing:
            raise RuntimeError(f"image {oci_image.IMAGE_NAME} not imported: {listing}")

    def kill_containerd(self):
        """kill -9, as a crash: shims and pause processes live on."""
        if self.containerd and self.containerd.poll() is None:
            self.containerd.send_signal(signal.SIGKILL)
            self.containerd.wait(timeout=10)
        if self.cri:
            self.cri.close()
            self.cri = None

    def log_tail(self, lines=30):
        return log_tail(os.path.join(self.dir, "containerd.log"), lines)

    # ---- pods -----------------------------------------------------------------------------------

    def run_pod(self, name, **config):
        sandbox_id = self.cri.run_sandbox(self.pod_config(name, **config))
        self.sandboxes.add(sandbox_id)
        return sandbox_id

    def pod_config(self, name, **config):
        return CriClient.sandbox_config(name, log_directory=os.path.join(self.dir, "logs", name), **config)

    def pod(self, sandbox_id):
        """(state, ip, netns path as seen from the host) of a sandbox."""
        status, info = self.cri.sandbox_status(sandbox_id)
        path = ""
        for namespace in info.get("runtimeSpec", {}).get("linux", {}).get("namespaces", []):
            if namespace.get("type") == "network":
                path = namespace.get("path", "")
        return status.state, status.network.ip, (self.root_view + path) if path else ""

    def in_node(self, *args, check=False, timeout=20):
        return run(netns.enter(netns.path(self.node_ns)) + list(args), check=check, timeout=timeout)

    def in_outside(self, *args, check=False, timeout=20):
        return run(netns.enter(netns.path(self.outside_ns)) + list(args), check=check, timeout=timeout)

    def in_pod(self, sandbox_id, *args, check=False, timeout=20):
        return run(netns.enter(self.pod(sandbox_id)[2]) + list(args), check=check, timeout=timeout)

    def serve(self, sandbox_id, port, text):
        """busybox httpd inside the pod's netns answering `text`; stopped by PID in destroy()."""
        docroot = os.path.join(self.dir, "www", f"{sandbox_id[:12]}-{port}")
        os.makedirs(docroot, exist_ok=True)
        with open(os.path.join(docroot, "index.html"), "w") as page:
            page.write(text)
        server = subprocess.Popen(netns.enter(self.pod(sandbox_id)[2]) + ["busybox", "httpd", "-f", "-p", str(port), "-h", docroot],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=PATH_ENV,
                                  start_new_session=True)
        self.servers.append(server)
        wait_until(lambda: self.in_pod(sandbox_id, "wget", "-q", "-O", "-", "-T", "2", "-t", "1",
                                       f"http://127.0.0.1:{port}/").stdout == text,
                   10, interval=0.1, what=f"httpd on port {port}")
        return server

    def remove_pod(self, sandbox_id):
        self.cri.stop_sandbox(sandbox_id)
        self.cri.remove_sandbox(sandbox_id)
        self.sandboxes.discard(sandbox_id)

    # ---- what is on the node ------------------------------------------------------------------------

    def store_dir(self):
        if self.flannel_env is not None:
            return f"{self.root_view}/run/weft/ipam/{self.network}"
        return os.path.join(self.data_dir, self.network)

    def reservations(self):
        """{address: owner} from the store's ips/ files, and the owners/ record names."""
        base = self.store_dir()
        addresses = {}
        ips = os.path.join(base, "ips")
        if os.path.isdir(ips):
            for name in os.listdir(ips):
                with open(os.path.join(ips, name), "rb") as record:
                    addresses[name] = record.read().decode(errors="replace").splitlines()[0].strip()
        owners_dir = os.path.join(base, "owners")
        owners = sorted(os.listdir(owners_dir)) if os.path.isdir(owners_dir) else []
        return addresses, owners

    def pod_veths(self):
        links = self.in_node("ip", "-o", "link", "show", "type", "veth", check=True).stdout.splitlines()
        names = [line.split(":")[1].strip().split("@")[0] for line in links if line.strip()]
        return [name for name in names if name != UPLINK]

    def nft_elements(self):
        """hostPort/masquerade map elements Weft tagged for this network."""
        listing = self.in_node("nft", "list", "table", "inet", "weft")
        if listing.returncode != 0:
            return []
        tag = f"weft/{self.network}/"
        return [line.strip() for line in listing.stdout.splitlines() if tag in line]

    def netns_mounts(self):
        """nsfs mounts containerd made for pods (they live in this node's mount namespace only)."""
        with open(f"/proc/{self.holder.pid}/mounts") as mounts:
            return [line.split()[1] for line in mounts if line.split()[2] == "nsfs" and line.split()[1].startswith(os.path.join(self.dir, "state") + "/")]

    def netns_links(self, mount):
        """Interface names inside a pod netns mount (a path from netns_mounts())."""
        links = run(netns.enter(f"{self.root_view}{mount}") + ["ip", "-o", "link", "show"], check=False).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()]

    def remove_corrupt_cni_cache(self, sandbox_id):
        """What an operator does when libcni's cached result for a sandbox is unreadable (truncated by a
        runtime crash): delete it, so DEL can run without prevResult. Returns the files removed."""
        results = os.path.join(self.dir, "cni-cache", "results")
        removed = []
        for name in self.cni_cache_entries():
            if sandbox_id not in name:
                continue
            path = os.path.join(results, name)
            try:
                with open(path) as cached:
                    json.load(cached)
            except (OSError, ValueError):
                os.unlink(path)
                removed.append(name)
        return removed

    def cni_cache_entries(self):
        results = os.path.join(self.dir, "cni-cache", "results")
        return sorted(os.listdir(results)) if os.path.isdir(results) else []

    def leftovers(self):
        """Everything a removed pod must not leave behind; empty when the node is clean."""
        addresses, owners = self.reservations()
        found = {
            "veths": self.pod_veths(),
            "reserved addresses": sorted(addresses),
            "owner records": owners,
            "nft elements": self.nft_elements(),
            "netns mounts": self.netns_mounts(),
            "libcni cache": self.cni_cache_entries(),
        }
        return {key: value for key, value in found.items() if value}

    def assert_clean(self):
        self.test.assertEqual(self.leftovers(), {}, "the node must be clean")

    # ---- teardown -------------------------------------------------------------------------------

    def _shims(self):
        table = process_table()
        shims = [pid for pid, (_, argv) in table.items()
                 if argv and os.path.basename(argv[0]).startswith("containerd-shim") and self.socket in argv]
        return shims, table

    def destroy(self):
        if self.dir is None:
            return
        if self.cri and self.containerd and self.containerd.poll() is None:
            self.cri.timeout = 15  # a wedged runtime must not stall the teardown for long
            try:
                for sandbox in self.cri.list_sandboxes():
                    try:
                        self.cri.stop_sandbox(sandbox.id)
                        self.cri.remove_sandbox(sandbox.id)
                    except Exception:
                        pass
            except Exception:
                pass
        if self.cri:
            self.cri.close()
        stop_process(self.containerd, grace=10)
        # Shims this containerd started (found by their -address argument) and their pause processes.
        shims, table = self._shims()
        for shim in shims:
            for pid, (ppid, _) in table.items():
                if ppid == shim:
                    kill_pid(pid)
            kill_pid(shim)
        try:
            wait_until(lambda: not self._shims()[0], 10, interval=0.05, what="shims to exit")
        except TimeoutError:
            pass
        for server in self.servers:
            stop_process(server, grace=2)
        stop_process(self.holder, grace=2)
        for namespace in (self.node_ns, self.outside_ns):
            netns.delete(namespace)
        # Nothing was mounted in the host's namespace; this is only a safety net.
        with open("/proc/self/mounts") as mounts:
            stray = [line.split()[1] for line in mounts if line.split()[1].startswith(self.dir)]
        for mount in sorted(stray, reverse=True):
            run(["umount", "-l", mount], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.made_var_lib_cni:
            try:
                os.rmdir("/var/lib/cni")
            except OSError:
                pass
        self.dir = None


__all__ = ["CriNode", "READY", "run", "wait_until", "weft_bin"]
