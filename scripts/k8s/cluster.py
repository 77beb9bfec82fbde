#!/usr/bin/env python3
"""A throwaway Kubernetes 1.20 cluster of one or more nodes inside network namespaces, for Weft's e2e
tier (GUIDE §11: several nodes on one machine).

- The underlay: `wt-<id>-k8sout`, the "outside", holds a bridge with OUTSIDE_IP (it reaches hostPorts
  the way another machine would); every node's `eth0` is a veth whose peer is a port of that bridge, so
  the nodes reach each other (and vxlan's UDP 8472 crosses) as machines on one L2 segment do.
- Node 1 (`wt-<id>-k8snode`, NODE_IP, NODE_NAME) runs the control plane too: etcd, kube-apiserver,
  controller-manager (it gives every Node a podCIDR), scheduler and the DNS stand-in. Every node runs its
  own containerd, kubelet and kube-proxy (its iptables rules land in the node's namespace).
- Each node has a private mount namespace held by a `sleep` (like Tests/cri's CriNode): a tmpfs /run
  (containerd's state and pod netns mounts, Weft's store /run/weft/ipam and flannel's /run/flannel: a
  node's tmpfs, emptied by the simulated reboot), its own /etc/cni/net.d, /opt/cni/bin, /var/lib/cni,
  /var/log and /var/lib/kubelet/device-plugins (kubelet's hard-coded socket) bound from its run
  directory, so a DaemonSet's hostPaths land on that node; and, so kubelet leaves the host's sysctls
  alone, files holding the values kubelet wants bound over /proc/sys/vm/overcommit_memory, kernel/panic,
  kernel/panic_on_oops (kubelet only writes a tunable that differs). The host's /run/netns mounts copied
  into it are unmounted there first: a copy would keep other namespaces alive.
- Dual-stack (`Cluster(dual_stack=True)`, `up --dual-stack`): every eth0 also has an IPv6 address on
  the underlay's 2001:db8::/64 and an IPv6 default route via the bridge's; the IPv6DualStack feature
  gate on apiserver, controller-manager, kubelet (`--node-ip` of both families) and kube-proxy; cluster
  and service CIDRs of both families, each Node an IPv4 /MASK and an IPv6 /MASK6 podCIDR.
- Each node a cgroup subtree (`/weft-e2e-<id>`, `/weft-e2e-<id>-n2`, ...) in every v1 hierarchy
  (kubelet's --cgroup-root).

`down()` stops every process by PID (pods found through the cgroup subtrees, shims through their mount
namespace), removes the cgroups, the namespaces and the run directory; nothing is mounted in the host's
mount namespace and nothing is added to its network namespace.

CLI: cluster.py up [--mask 24] [--nodes 3] [--dual-stack] (prints the run dir, leaves it running) | cluster.py down RUN_DIR
"""

import argparse
import fcntl
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PATH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
# Node 1 (the control plane's too), then the others; OUTSIDE_IP is the underlay bridge's own address.
NODE_NAMES = ["weft-node", "weft-node-2", "weft-node-3", "weft-node-4"]
NODE_IPS = ["192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"]
NODE_NAME, NODE_IP, OUTSIDE_IP = NODE_NAMES[0], NODE_IPS[0], "192.0.2.2"
UPLINK = "eth0"
UNDERLAY_BRIDGE = "underlay"
SERVICE_CIDR, API_SERVICE_IP, DNS_SERVICE_IP = "10.96.0.0/16", "10.96.0.1", "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
# A dual-stack cluster (Cluster(dual_stack=True)) adds the IPv6 half of each: every node's eth0 an
# IPv6 address on the underlay's /64 (the bridge's own ::2 its default route), an IPv6 pod network
# (each Node a /MASK6 of it as its second podCIDR) and an IPv6 service range. Kubernetes 1.20 has
# dual-stack behind the IPv6DualStack feature gate (alpha): apiserver, controller-manager, kubelet and
# kube-proxy each get it.
NODE_IPS6 = ["2001:db8::1", "2001:db8::3", "2001:db8::4", "2001:db8::5"]
OUTSIDE_IP6 = "2001:db8::2"
SERVICE_CIDR6 = "fd00:10:96::/112"
CLUSTER_CIDR6 = "fd00:10:244::/56"
DUAL_STACK_GATE = "--feature-gates=IPv6DualStack=true"
CGROUP_ROOT = "/sys/fs/cgroup"
# What kubelet's setupKernelTunables wants: bound read-only in the private mount namespace where the
# host's value differs, so kubelet finds them set and writes nothing.
KUBELET_TUNABLES = {"vm/overcommit_memory": 1, "vm/panic_on_oom": 0, "kernel/panic": 10,
                    "kernel/panic_on_oops": 1, "kernel/keys/root_maxkeys": 1000000,
                    "kernel/keys/root_maxbytes": 25000000}


def log(message):
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args, check=True, timeout=60, input=None, env=None):
    result = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout,
                            env=env or PATH_ENV)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def mount_points_lock():
    """An exclusive flock held while a cluster makes or removes host mount points. Every e2e cluster on
    this machine takes it, whichever tree it runs from (the lock is on /tmp itself)."""
    fd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def mount_points_of_other_clusters(own_dir):
    """The host mount points (made_dirs) of every other live e2e cluster. Removing a directory that is
    a mount point in another mount namespace detaches that mount there (Linux >= 3.18): a cluster
    tearing down must leave alone the empty /opt/cni/bin another cluster's nodes have their own bin
    directory bound on, or their kubelets lose the loopback plugin mid-run."""
    dirs = set()
    for state_file in glob.glob("/tmp/weft-e2e-*/state.json"):
        if os.path.dirname(state_file) == own_dir:
            continue
        try:
            with open(state_file) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if any(n.get("holder") and start_time(n["holder"]) == n.get("holder_start") for n in state.get("nodes", [])):
            dirs.update(state.get("made_dirs", []))
    return dirs


def start_time(pid):
    """The process's start time (clock ticks since boot): with the PID, its identity. None when it is
    gone or a zombie (a daemon of an earlier `cluster.py up` is reaped by init, not by us)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_table():
    """{pid: (ppid, argv)}"""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = [a.decode(errors="replace") for a in cmdline.read().split(b"\0") if a]
            table[int(entry)] = (ppid, argv)
        except (OSError, IndexError, ValueError):
            continue
    return table


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def cgroup_hierarchies(v2=True):
    """Cgroup hierarchies mounted under /sys/fs/cgroup (directory names): the v1 controllers and, on a
    hybrid host, the v2 `unified` tree (runc creates the containers' cgroups there too)."""
    names = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if (fields[2] == "cgroup" or (v2 and fields[2] == "cgroup2")) and fields[1].startswith(CGROUP_ROOT + "/"):
                names.append(os.path.relpath(fields[1], CGROUP_ROOT))
    return sorted(set(names))


class NodeHost:
    """One node's side: its network and mount namespaces, cgroup subtree, containerd, kubelet and
    kube-proxy. Node 1's paths are the cluster's run dir itself (the layout the single-node tier had);
    the others' are `nodes/<name>/` below it, their daemons named `<name>/<component>`."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name, self.ip = NODE_NAMES[index], NODE_IPS[index]
        self.ip6 = NODE_IPS6[index] if cluster.dual_stack else None   # its IPv6 underlay address
        suffix = "" if index == 0 else str(index + 1)
        self.ns = f"wt-{cluster.id}-k8snode{suffix}"
        self.cgroup = f"weft-e2e-{cluster.id}" + ("" if index == 0 else f"-n{index + 1}")
        self.dir = cluster.dir if index == 0 else os.path.join(cluster.dir, "nodes", self.name)
        self.prefix = "" if index == 0 else f"{self.name}/"
        self.holder = None
        self._holder_process = None

    def __repr__(self):
        return f"<node {self.name} {self.ip}>"

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def node_net(self):
        """The node's network namespace through the holder (which lives in it): robust against a sweep
        that deletes the `ip netns` name while the cluster runs."""
        if self.holder:
            return f"/proc/{self.holder}/ns/net"
        return f"/var/run/netns/{self.ns}"

    def node_view(self, path):
        """A path inside the node's mount namespace, as the host sees it."""
        return f"/proc/{self.holder}/root{path}"

    def in_node(self, *args, check=False, timeout=60, input=None, mount=True):
        """Runs a command in the node: its network namespace and (mount=True) its mount namespace."""
        prefix = ["nsenter", f"--net={self.node_net}"]
        if mount:
            prefix.insert(1, f"--mount=/proc/{self.holder}/ns/mnt")
        return run(prefix + list(args), check=check, timeout=timeout, input=input)

    def start(self, component, args, env=None):
        return self.cluster.start(self.prefix + component, args, env=env, node=self)

    def stop(self, component, sig=signal.SIGTERM, grace=10.0):
        self.cluster.stop(self.prefix + component, sig=sig, grace=grace)

    def alive(self, component):
        return self.cluster.alive(self.prefix + component)

    def log_tail(self, component, lines=30):
        return self.cluster.log_tail(self.prefix + component, lines)

    # ---- bring-up -------------------------------------------------------------------------------

    def make_dirs(self):
        for sub in ("logs", "kubelet", "kubelet-plugins", "device-plugins", "containerd-root", "cni-bin",
                    "cni-net.d", "cni-cache", "var-log", "tunables"):
            os.makedirs(self.path(sub), exist_ok=True)

    def network(self):
        """The node's namespace, its eth0 a port of the underlay bridge, a default route through the
        outside; both veth ends are born inside their namespaces (nothing appears in the host's)."""
        out_ns = self.cluster.out_ns
        run(["ip", "netns", "add", self.ns])
        self.cluster.save()
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        port = f"n{self.index + 1}"
        run(["ip", "-n", self.ns, "link", "add", UPLINK, "type", "veth", "peer", "name", port, "netns", out_ns])
        run(["ip", "-n", out_ns, "link", "set", port, "master", UNDERLAY_BRIDGE])
        run(["ip", "-n", self.ns, "addr", "add", f"{self.ip}/24", "dev", UPLINK])
        if self.ip6:
            # nodad: usable at once (no other machine on this segment can hold it).
            run(["ip", "-n", self.ns, "addr", "add", f"{self.ip6}/64", "dev", UPLINK, "nodad"])
        run(["ip", "-n", out_ns, "link", "set", port, "up"])
        run(["ip", "-n", self.ns, "link", "set", UPLINK, "up"])
        # A default route (kube-apiserver, kubelet, kube-proxy and weftd pick the node's address from it).
        run(["ip", "-n", self.ns, "route", "add", "default", "via", OUTSIDE_IP])
        if self.ip6:
            # And one for IPv6: the node's own connections to IPv6 ClusterIPs are routed before
            # kube-proxy's DNAT (OUTPUT), as a dual-stack machine's are.
            run(["ip", "-n", self.ns, "-6", "route", "add", "default", "via", OUTSIDE_IP6, "dev", UPLINK])
        # As a node's OS is set up for Kubernetes (kubeadm's preflight checks these): forwarding, and
        # bridged pod-to-pod traffic through iptables so a Service's DNAT is undone on the reply.
        sysctls = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1",
                   "net/bridge/bridge-nf-call-ip6tables": "1"}
        if self.ip6:
            sysctls["net/ipv6/conf/all/forwarding"] = "1"
        for key, value in sysctls.items():
            run(["nsenter", f"--net=/var/run/netns/{self.ns}", "sh", "-c", f"echo {value} > /proc/sys/{key}"])

    def cgroups(self):
        for hierarchy in cgroup_hierarchies(v2=False):
            path = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            os.makedirs(path, exist_ok=True)
            if hierarchy == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(CGROUP_ROOT, hierarchy, knob)) as parent:
                        value = parent.read().strip()
                    with open(os.path.join(path, knob), "w") as child:
                        child.write(value)
        self.cluster.save()

    def mount_namespace(self, extra_script=()):
        # Held until the holder is saved: before that, this cluster is not live to the others'
        # down() (mount_points_of_other_clusters), which could remove a mount point it is binding.
        lock = mount_points_lock()
        try:
            self._mount_namespace(extra_script)
        finally:
            os.close(lock)

    def _mount_namespace(self, extra_script):
        mounts = {"/etc/cni/net.d": self.path("cni-net.d"), "/opt/cni/bin": self.path("cni-bin"),
                  "/var/lib/cni": self.path("cni-cache"), "/var/log": self.path("var-log"),
                  "/var/lib/kubelet/device-plugins": self.path("device-plugins")}
        shared = mount_points_of_other_clusters(self.cluster.dir)
        for target in mounts:
            if not os.path.isdir(target):
                # An empty mount point (removed again by down()); the bind lives only in the private namespace.
                missing = []
                probe = target
                while not os.path.exists(probe):
                    missing.append(probe)
                    probe = os.path.dirname(probe)
                os.makedirs(target)
                self.cluster.made_dirs.extend(missing)
            # One another live cluster made: this one uses it too, and the last one down removes it.
            self.cluster.made_dirs.extend(d for d in shared if (target + "/").startswith(d + "/")
                                          and d not in self.cluster.made_dirs)
        self.cluster.save()
        # The copies of the host's `ip netns` mounts would pin those namespaces (other nodes', other
        # tests') for as long as this node lives: unmounted here first (private propagation: the host
        # keeps its own).
        script = ["set -e", "if mountpoint -q /run/netns; then umount -l /run/netns; fi", *extra_script,
                  "mount -t tmpfs -o mode=0755 tmpfs /run", "mkdir -p /run/weft /run/containerd"]
        for target, source in mounts.items():
            script.append(f"mount --bind {source} {target}")
        for key, wanted in KUBELET_TUNABLES.items():
            with open(f"/proc/sys/{key}") as current:
                if int(current.read().split()[0]) == wanted:
                    continue
            fake = self.path("tunables", key.replace("/", "_"))
            with open(fake, "w") as f:
                f.write(f"{wanted}\n")
            script.append(f"mount --bind -o ro {fake} /proc/sys/{key}")
        script += ["echo ready", "exec sleep infinity"]
        holder = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{self.ns}",
                                   "unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=PATH_ENV,
                                  start_new_session=True)
        line = holder.stdout.readline()
        if line.strip() != "ready":
            holder.kill()
            raise RuntimeError(f"mount namespace setup of {self.name} failed: {line} {holder.stderr.read()}")
        holder.stdout.close()
        holder.stderr.close()
        self.holder = holder.pid
        self._holder_process = holder
        self.cluster.save()

    def write_containerd_config(self):
        containerd = f'''version = 2
root = "{self.path('containerd-root')}"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "/run/containerd/containerd.sock"
[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "k8s.gcr.io/pause:3.2"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
'''
        with open(self.path("containerd.toml"), "w") as f:
            f.write(containerd)

    def start_containerd(self, timeout=60):
        self.start("containerd", ["containerd", "--config", self.path("containerd.toml")])
        sock = self.node_view("/run/containerd/containerd.sock")

        def answering():
            if not self.alive("containerd"):
                raise RuntimeError(f"containerd of {self.name} exited:\n{self.log_tail('containerd')}")
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(sock)
                return True
            except OSError:
                return False
            finally:
                probe.close()
        wait_until(answering, timeout, what=f"the containerd socket of {self.name}")

    def ctr(self, *args, check=True, timeout=120):
        return self.in_node("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", *args,
                            check=check, timeout=timeout)

    def import_image(self, archive):
        self.ctr("images", "import", "--snapshotter", "overlayfs", archive, timeout=300)

    def start_kubelet(self):
        bin_, pki = self.cluster.kube_bin, self.cluster.path("pki")
        self.start("kubelet", [
            f"{bin_}/kubelet", f"--kubeconfig={pki}/kubelet-{self.name}.kubeconfig", "--container-runtime=remote",
            "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
            "--runtime-request-timeout=4m",
            f"--root-dir={self.path('kubelet')}", f"--cert-dir={self.path('kubelet', 'pki')}",
            f"--hostname-override={self.name}", f"--node-ip={self.ip}" + (f",{self.ip6}" if self.ip6 else ""),
            "--cgroup-driver=cgroupfs", f"--cgroup-root=/{self.cgroup}", "--fail-swap-on=false",
            "--oom-score-adj=0", f"--cluster-dns={DNS_SERVICE_IP}", "--cluster-domain=cluster.local",
            f"--resolv-conf={self.cluster.path('resolv.conf')}", "--pod-infra-container-image=k8s.gcr.io/pause:3.2",
            f"--volume-plugin-dir={self.path('kubelet-plugins')}",
            "--anonymous-auth=false", f"--client-ca-file={pki}/ca.crt", "--authorization-mode=AlwaysAllow",
            f"--tls-cert-file={pki}/kubelet-serving-{self.name}.crt",
            f"--tls-private-key-file={pki}/kubelet-serving-{self.name}.key",
            "--read-only-port=0", "--healthz-bind-address=127.0.0.1", "--node-status-update-frequency=4s",
            # A deleted pod's API object goes once kubelet's next sync of it finds it reclaimed: every 10 s
            # instead of every minute keeps namespace deletion in the tests short.
            "--sync-frequency=10s",
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
            "--eviction-hard=memory.available<100Mi,nodefs.available<1%,nodefs.inodesFree<1%,imagefs.available<1%",
            "--max-pods=110", "--serialize-image-pulls=false", "--v=2"] + self.cluster.gates)

    def start_kube_proxy(self):
        pki = self.cluster.path("pki")
        self.start("kube-proxy", [
            f"{self.cluster.kube_bin}/kube-proxy", f"--kubeconfig={pki}/admin.kubeconfig", "--proxy-mode=iptables",
            f"--cluster-cidr={self.cluster.cluster_cidrs}", f"--hostname-override={self.name}", f"--bind-address={self.ip}",
            "--conntrack-max-per-core=0", "--oom-score-adj=0", "--metrics-bind-address=127.0.0.1:10249",
            "--healthz-bind-address=127.0.0.1:10256", "--v=1"] + self.cluster.gates)

    def start_node_side(self, images=()):
        """containerd (images imported), kubelet, kube-proxy. The node's CNI bin dir holds the reference
        loopback plugin (containerd sets up every pod's lo through it), as a node provisioned for
        Kubernetes does; Weft comes from the DaemonSet."""
        shutil.copy2("/usr/lib/cni/loopback", self.path("cni-bin", "loopback"))
        self.start_containerd()
        for archive in images:
            self.import_image(archive)
        self.start_kubelet()
        self.start_kube_proxy()

    # ---- lifecycle: crashes, reboots, removal -----------------------------------------------------

    def pod_pids(self):
        """Every process in the node's cgroup subtree (pods' containers and pause processes)."""
        pids = set()
        for hierarchy in ("pids", "memory", "cpu", "freezer", "devices"):
            base = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            if not os.path.isdir(base):
                continue
            for root, _dirs, files in os.walk(base):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as procs:
                            pids.update(int(p) for p in procs.read().split())
                    except OSError:
                        pass
        return pids

    def shim_pids(self):
        table = process_table()
        return [pid for pid, (_, argv) in table.items()
                if argv and os.path.basename(argv[0]).startswith("containerd-shim")
                and self._in_holder_mount_ns(pid)]

    def _in_holder_mount_ns(self, pid):
        try:
            return self.holder and os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{self.holder}/ns/mnt")
        except OSError:
            return False

    def kill_pods_and_shims(self):
        for _ in range(50):
            pids = self.pod_pids() | set(self.shim_pids())
            if not pids:
                return
            for pid in pids:
                kill_pid(pid)
            time.sleep(0.2)

    def stop_node_side(self, sig=signal.SIGKILL):
        """kubelet, kube-proxy, containerd and every pod process of this node die."""
        for component in ("kubelet", "kube-proxy"):
            self.stop(component, sig)
        self.stop("containerd", sig)
        self.kill_pods_and_shims()

    def simulate_reboot(self):
        """What a node reboot does to the node's side (the control plane, on node 1 here, stays):
        kubelet, kube-proxy, containerd and every pod process die; /run (a tmpfs: containerd's state, the
        pods' netns mounts, Weft's store, flannel's subnet.env) is emptied; the pods' network namespaces
        vanish with their veths, and so do the bridge, the vxlan device, every route and neighbour of
        another node, Weft's nft tables and kube-proxy's iptables rules."""
        self.stop_node_side()
        # A lazy unmount detaches the tmpfs with everything mounted below it (the pods' netns files).
        script = "set -e; umount -l /run; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/weft /run/containerd"
        self.in_node("sh", "-c", script, check=True)
        # A fresh boot has no cgroups below the root either (kubelet's cadvisor would otherwise spend
        # seconds on each dead container's cgroup before kubelet syncs a pod).
        self.remove_cgroups(keep_root=True)
        for args in (["nft", "flush", "ruleset"], ["conntrack", "-F"], ["ip", "neigh", "flush", "all"]):
            self.in_node(*args, mount=False)
        links = self.in_node("ip", "-o", "link", "show", mount=False).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name not in (UPLINK, "lo"):
                self.in_node("ip", "link", "delete", name, mount=False)
        # Routes of the pod network (host-gw's via other nodes) went with the links or are flushed here.
        self.in_node("ip", "route", "flush", "root", CLUSTER_CIDR, mount=False)
        if self.ip6:
            self.in_node("ip", "-6", "route", "flush", "root", CLUSTER_CIDR6, mount=False)

    def replace(self):
        """This node's machine replaced by a new one of the same name and address: the old one's
        processes, mounts, namespaces, cgroups and disks gone; a fresh one provisioned (the images
        imported, the loopback plugin in place) and its containerd, kubelet and kube-proxy started."""
        if self.index == 0:
            raise ValueError("node 1 runs the control plane: it cannot be replaced")
        self.stop_node_side()
        self.stop_holder()
        self.remove_cgroups()
        run(["ip", "netns", "delete", self.ns], check=False)
        shutil.rmtree(self.dir)
        self.make_dirs()
        self.network()
        self.cgroups()
        self.mount_namespace()
        self.write_containerd_config()
        self.start_node_side(self.cluster.images + ([self.cluster.weft_image] if self.cluster.weft_image else []))

    def remove_cgroups(self, keep_root=False):
        """rmdir the node's cgroup subtree, deepest first, in every hierarchy (processes must be gone)."""
        for hierarchy in cgroup_hierarchies():
            base = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            if not os.path.isdir(base):
                continue
            for root, _dirs, _files in sorted(os.walk(base), key=lambda item: -item[0].count("/")):
                if keep_root and root == base:
                    continue
                for _ in range(50):
                    try:
                        os.rmdir(root)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)

    def stop_holder(self):
        if self.holder and start_time(self.holder):
            kill_pid(self.holder)
            if self._holder_process is not None:
                self._holder_process.wait(timeout=10)
            else:
                wait_until(lambda: start_time(self.holder) is None, 10, what=f"the mount holder of {self.name} to exit")
        self.holder = None

    def state(self):
        return {"holder": self.holder, "holder_start": start_time(self.holder) if self.holder else None}


class Cluster:
    def __init__(self, kube_bin, images, weft_image=None, mask=24, run_dir=None, nodes=1, cluster_id=None,
                 dual_stack=False, mask6=64):
        """kube_bin: the cache's bin dir (build.sh); images: OCI archives to import (pause, agnhost,
        busybox); weft_image: .build/weft-image.tar (imported, then installed by deploy/weft.yaml);
        nodes: how many nodes (node 1 runs the control plane too); mask: the IPv4 podCIDRs' length;
        dual_stack: IPv6 too (underlay, pod network with podCIDRs of length mask6, services)."""
        if not 1 <= nodes <= len(NODE_NAMES):
            raise ValueError(f"nodes must be 1..{len(NODE_NAMES)}")
        self.kube_bin = kube_bin
        self.images = list(images)
        self.weft_image = weft_image
        self.mask = mask
        self.dual_stack = dual_stack
        self.mask6 = mask6
        self.id = cluster_id or secrets.token_hex(4)
        self.dir = run_dir or f"/tmp/weft-e2e-{self.id}"
        self.out_ns = f"wt-{self.id}-k8sout"
        self.procs = {}              # name -> [pid, starttime, argv]
        self.made_dirs = []          # host mount points created for the private mounts
        self.timings = {}
        self.started_at = None
        self._children = {}
        self._state_lock = threading.Lock()   # nodes start side by side, each saving the state
        self.nodes = [NodeHost(self, index) for index in range(nodes)]

    # ---- node 1, as the single-node tier knew the cluster ----------------------------------------

    @property
    def first(self):
        return self.nodes[0]

    @property
    def node_ns(self):
        return self.first.ns

    @property
    def cgroup(self):
        return self.first.cgroup

    @property
    def holder(self):
        return self.first.holder

    @property
    def node_net(self):
        return self.first.node_net

    def node_view(self, path):
        return self.first.node_view(path)

    def in_node(self, *args, **kwargs):
        return self.first.in_node(*args, **kwargs)

    @property
    def cluster_cidrs(self):
        """The pod network(s), as --cluster-cidr takes them."""
        return CLUSTER_CIDR + (f",{CLUSTER_CIDR6}" if self.dual_stack else "")

    @property
    def service_cidrs(self):
        """The service range(s), as --service-cluster-ip-range takes them."""
        return SERVICE_CIDR + (f",{SERVICE_CIDR6}" if self.dual_stack else "")

    @property
    def gates(self):
        """The feature gates every Kubernetes component of this cluster gets."""
        return [DUAL_STACK_GATE] if self.dual_stack else []

    def node(self, name):
        """The NodeHost of a Node name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name} in this cluster")

    # ---- paths --------------------------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def kubeconfig(self):
        return self.path("pki", "admin.kubeconfig")

    @property
    def state_file(self):
        return self.path("state.json")

    # ---- running things -------------------------------------------------------------------------

    @property
    def outside_net(self):
        holder = self.procs.get("outside-holder")
        if holder and start_time(holder[0]) == holder[1]:
            return f"/proc/{holder[0]}/ns/net"
        return f"/var/run/netns/{self.out_ns}"

    def in_outside(self, *args, check=False, timeout=60):
        return run(["nsenter", f"--net={self.outside_net}"] + list(args), check=check, timeout=timeout)

    def kubectl(self, *args, check=True, timeout=120, input=None):
        return run(["nsenter", f"--net={self.node_net}", os.path.join(self.kube_bin, "kubectl"),
                    "--kubeconfig", self.kubeconfig] + list(args), check=check, timeout=timeout, input=input)

    def kubectl_json(self, *args, timeout=60):
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def start(self, name, args, env=None, node=None):
        """Starts a daemon in a node (both namespaces; node 1 by default), output to logs/<name>.log, in
        its own session."""
        node = node or self.first
        log_path = self.path("logs", f"{name}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                ["nsenter", f"--mount=/proc/{node.holder}/ns/mnt", f"--net={node.node_net}"] + args,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env or PATH_ENV,
                start_new_session=True)
        self.procs[name] = [process.pid, start_time(process.pid), args[0]]
        self._children[name] = process
        self.save()
        return process.pid

    def alive(self, name):
        entry = self.procs.get(name)
        if not entry:
            return False
        child = self._children.get(name)
        if child is not None:
            return child.poll() is None
        return start_time(entry[0]) == entry[1]

    def stop(self, name, sig=signal.SIGTERM, grace=10.0):
        """Stops one daemon by PID (checked against its start time), SIGKILL after `grace`."""
        entry = self.procs.get(name)
        if not entry:
            return
        pid, started = entry[0], entry[1]
        child = self._children.pop(name, None)
        if start_time(pid) == started:
            kill_pid(pid, sig)
            deadline = time.monotonic() + grace
            while start_time(pid) == started and time.monotonic() < deadline:
                if child is not None and child.poll() is not None:
                    break
                time.sleep(0.1)
            if start_time(pid) == started:
                kill_pid(pid, signal.SIGKILL)
        if child is not None:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs.pop(name, None)
        self.save()

    def log_tail(self, name, lines=30):
        try:
            with open(self.path("logs", f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def save(self):
        with self._state_lock:
            state = {"id": self.id, "dir": self.dir, "out_ns": self.out_ns, "nodes": [n.state() for n in self.nodes],
                     "procs": dict(self.procs), "made_dirs": list(self.made_dirs), "kube_bin": self.kube_bin,
                     "dual_stack": self.dual_stack}
            if os.path.isdir(self.dir):
                with open(self.state_file + ".tmp", "w") as out:
                    json.dump(state, out)
                os.replace(self.state_file + ".tmp", self.state_file)

    @classmethod
    def load(cls, run_dir):
        with open(os.path.join(run_dir, "state.json")) as f:
            state = json.load(f)
        cluster = cls(state["kube_bin"], [], run_dir=state["dir"], nodes=len(state["nodes"]), cluster_id=state["id"],
                      dual_stack=state.get("dual_stack", False))
        cluster.procs, cluster.made_dirs = state["procs"], state["made_dirs"]
        for node, saved in zip(cluster.nodes, state["nodes"]):
            if saved["holder"] and start_time(saved["holder"]) == saved["holder_start"]:
                node.holder = saved["holder"]
        return cluster

    # ---- bring-up -------------------------------------------------------------------------------

    def up(self, install_weft=True):
        t0 = self.started_at = time.monotonic()
        for sub in ("pki", "logs", "etcd", "manifests"):
            os.makedirs(self.path(sub), exist_ok=True)
        for node in self.nodes:
            node.make_dirs()
        self.save()
        self._certificates()
        self._underlay()
        for node in self.nodes:
            node.network()
            node.cgroups()
        # etcd's data on a tmpfs in node 1's mount namespace.
        self.first.mount_namespace([f"mount -t tmpfs -o size=1g,mode=0700 tmpfs {self.path('etcd')}"])
        for node in self.nodes[1:]:
            node.mount_namespace()
        self._configs()
        self._control_plane()
        self.timings["control plane"] = time.monotonic() - t0
        self._start_nodes(self.nodes)
        self._dns()
        self.timings["node components"] = time.monotonic() - t0
        if install_weft:
            self.install_weft()
            log(f"cluster of {len(self.nodes)} up, nodes Ready in {self.timings['node Ready']:.1f} s (control plane "
                f"{self.timings['control plane']:.1f} s); run dir {self.dir}")
        else:
            log(f"cluster of {len(self.nodes)} up in {time.monotonic() - t0:.1f} s, nodes waiting for a network; "
                f"run dir {self.dir}")
        return self

    def _certificates(self):
        pki = self.path("pki")

        def openssl(*args):
            run(["openssl"] + list(args))

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", f"{pki}/ca.key", "-out", f"{pki}/ca.crt", "-days", "7",
                "-subj", f"/CN=weft-e2e-{self.id}-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")

        def leaf(name, subject, usage, sans=None):
            openssl("req", "-new", *ec, "-keyout", f"{pki}/{name}.key", "-out", f"{pki}/{name}.csr", "-subj", subject)
            ext = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
                   f"extendedKeyUsage={usage}"]
            if sans:
                ext.append("subjectAltName=" + ",".join(sans))
            with open(f"{pki}/{name}.ext", "w") as f:
                f.write("\n".join(ext) + "\n")
            openssl("x509", "-req", "-in", f"{pki}/{name}.csr", "-CA", f"{pki}/ca.crt", "-CAkey", f"{pki}/ca.key",
                    "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
                    "-extfile", f"{pki}/{name}.ext", "-out", f"{pki}/{name}.crt")

        leaf("apiserver", "/CN=kube-apiserver", "serverAuth",
             [f"IP:{API_SERVICE_IP}", f"IP:{NODE_IP}", "IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes",
              "DNS:kubernetes.default", "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
              f"DNS:{NODE_NAME}"])
        leaf("admin", "/O=system:masters/CN=weft-e2e-admin", "clientAuth")
        leaf("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth")
        # The service-account signing key.
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{pki}/sa.key")
        openssl("pkey", "-in", f"{pki}/sa.key", "-pubout", "-out", f"{pki}/sa.pub")
        self._kubeconfig(f"{pki}/admin.kubeconfig", f"{pki}/admin.crt", f"{pki}/admin.key")
        self._leaf = leaf
        for node in self.nodes:
            self.node_certificates(node)

    def node_certificates(self, node):
        """kubelet's client certificate (system:node:<name>, what NodeRestriction checks), its serving
        certificate and kubeconfig."""
        pki = self.path("pki")
        self._leaf(f"kubelet-{node.name}", f"/O=system:nodes/CN=system:node:{node.name}", "clientAuth")
        self._leaf(f"kubelet-serving-{node.name}", f"/CN={node.name}", "serverAuth",
                   [f"IP:{node.ip}", f"DNS:{node.name}", "IP:127.0.0.1"] + ([f"IP:{node.ip6}"] if node.ip6 else []))
        self._kubeconfig(f"{pki}/kubelet-{node.name}.kubeconfig", f"{pki}/kubelet-{node.name}.crt",
                         f"{pki}/kubelet-{node.name}.key")

    def _kubeconfig(self, path, cert, key, server=f"https://{NODE_IP}:6443"):
        pki = self.path("pki")
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: weft-e2e
  cluster:
    certificate-authority: {pki}/ca.crt
    server: {server}
users:
- name: user
  user:
    client-certificate: {cert}
    client-key: {key}
contexts:
- name: weft-e2e
  context: {{cluster: weft-e2e, user: user}}
current-context: weft-e2e
""")

    def _underlay(self):
        """The outside namespace and its bridge, the L2 segment every node's eth0 is plugged into. A
        `sleep` lives in it, as a holder lives in each node's: a sweep that deletes the `ip netns` name
        while the cluster runs must not take the underlay (and every node's eth0) with it."""
        run(["ip", "netns", "add", self.out_ns])
        self.save()
        holder = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{self.out_ns}", "sleep", "infinity"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=PATH_ENV, start_new_session=True)
        self.procs["outside-holder"] = [holder.pid, start_time(holder.pid), "sleep"]
        self._children["outside-holder"] = holder
        self.save()
        run(["ip", "-n", self.out_ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.out_ns, "link", "add", UNDERLAY_BRIDGE, "type", "bridge"])
        run(["ip", "-n", self.out_ns, "addr", "add", f"{OUTSIDE_IP}/24", "dev", UNDERLAY_BRIDGE])
        if self.dual_stack:
            run(["ip", "-n", self.out_ns, "addr", "add", f"{OUTSIDE_IP6}/64", "dev", UNDERLAY_BRIDGE, "nodad"])
        run(["ip", "-n", self.out_ns, "link", "set", UNDERLAY_BRIDGE, "up"])

    def _configs(self):
        for node in self.nodes:
            node.write_containerd_config()
        with open(self.path("resolv.conf"), "w") as f:
            f.write(f"nameserver {NODE_IP}\n")

    def _start_nodes(self, nodes):
        """Each node's containerd, the images imported, kubelet and kube-proxy; waits for the Node objects."""
        t = time.monotonic()
        archives = self.images + ([self.weft_image] if self.weft_image else [])
        errors = []

        def bring_up(node):
            try:
                node.start_node_side(archives)
            except Exception as error:  # reported below, with the node's name
                errors.append(f"{node.name}: {error}")
        threads = [threading.Thread(target=bring_up, args=(node,)) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        self.timings["image import and node start"] = time.monotonic() - t
        for node in nodes:
            wait_until(lambda: self.kubectl("get", "node", node.name, check=False).returncode == 0, 90, interval=0.5,
                       what=f"the Node object {node.name}")

    def _wait_http(self, url, what, timeout=90, process=None):
        pki = self.path("pki")

        def ready():
            if process and not self.alive(process):
                raise RuntimeError(f"{process} exited:\n{self.log_tail(process)}")
            result = self.in_node("curl", "-sS", "-m", "3", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt",
                                  "--key", f"{pki}/admin.key", url, mount=False)
            return result.returncode == 0 and result.stdout.strip() == "ok"
        wait_until(ready, timeout, interval=0.3, what=what)

    def _control_plane(self):
        bin_, pki = self.kube_bin, self.path("pki")
        self.start("etcd", ["etcd", "--name", "node", "--data-dir", self.path("etcd", "data"),
                            "--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
                            "--listen-peer-urls", "http://127.0.0.1:2380",
                            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                            "--initial-cluster", "node=http://127.0.0.1:2380", "--log-level", "warn", "--logger", "zap"])
        wait_until(lambda: self.in_node("curl", "-s", "-m", "2", "http://127.0.0.1:2379/health", mount=False).stdout.find('"true"') >= 0,
                   60, interval=0.2, what="etcd")
        self.start("kube-apiserver", [
            f"{bin_}/kube-apiserver", "--etcd-servers=http://127.0.0.1:2379", "--bind-address=0.0.0.0",
            "--secure-port=6443", "--insecure-port=0", f"--advertise-address={NODE_IP}",
            f"--service-cluster-ip-range={self.service_cidrs}", "--service-node-port-range=30000-32767",
            f"--client-ca-file={pki}/ca.crt", f"--tls-cert-file={pki}/apiserver.crt",
            f"--tls-private-key-file={pki}/apiserver.key",
            f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={pki}/ca.crt",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={pki}/sa.pub", f"--service-account-signing-key-file={pki}/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=1h", "--v=1"] + self.gates)
        self._wait_http("https://127.0.0.1:6443/readyz", "kube-apiserver /readyz", process="kube-apiserver")
        self.start("kube-controller-manager", [
            f"{bin_}/kube-controller-manager", f"--kubeconfig={pki}/admin.kubeconfig", "--leader-elect=false",
            "--port=0", "--secure-port=0", "--allocate-node-cidrs=true", f"--cluster-cidr={self.cluster_cidrs}",
            # A dual-stack cluster refuses --node-cidr-mask-size: one length per family.
            *([f"--node-cidr-mask-size-ipv4={self.mask}", f"--node-cidr-mask-size-ipv6={self.mask6}"]
              if self.dual_stack else [f"--node-cidr-mask-size={self.mask}"]),
            f"--service-cluster-ip-range={self.service_cidrs}",
            f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
            "--use-service-account-credentials=true", f"--cluster-signing-cert-file={pki}/ca.crt",
            f"--cluster-signing-key-file={pki}/ca.key", "--configure-cloud-routes=false", "--v=1"] + self.gates)
        self.start("kube-scheduler", [
            f"{bin_}/kube-scheduler", f"--kubeconfig={pki}/admin.kubeconfig", "--leader-elect=false",
            "--port=0", "--secure-port=0", "--v=1"])

    def _dns(self):
        pki = self.path("pki")
        self.start("dns", [sys.executable if os.path.exists(sys.executable) else "/usr/bin/python3", "-u",
                           os.path.join(HERE, "dns.py"), "--listen", NODE_IP, "--server", "https://127.0.0.1:6443",
                           "--ca", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt", "--key", f"{pki}/admin.key"])
        manifest = f"""apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns, kubernetes.io/name: KubeDNS}}
spec:
  clusterIP: {DNS_SERVICE_IP}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
subsets:
- addresses: [{{ip: {NODE_IP}}}]
  ports:
  - {{name: dns, port: 53, protocol: UDP}}
  - {{name: dns-tcp, port: 53, protocol: TCP}}
"""
        wait_until(lambda: self.kubectl("apply", "-f", "-", input=manifest, check=False).returncode == 0, 60,
                   interval=1, what="the kube-dns Service")

    def install_weft(self, manifest=os.path.join(REPO, "deploy", "weft.yaml"), timeout=240):
        """kubectl apply -f deploy/weft.yaml, then waits for every Node to turn Ready."""
        t = time.monotonic()
        self.kubectl("apply", "-f", manifest)
        self.wait_node_ready(timeout)
        self.timings["weft install to Ready"] = time.monotonic() - t
        if self.started_at is not None:
            self.timings["node Ready"] = time.monotonic() - self.started_at

    def node_ready(self, name=NODE_NAME):
        result = self.kubectl("get", "node", name, "-o",
                              "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
        return result.returncode == 0 and result.stdout.strip() == "True"

    def wait_node_ready(self, timeout=240, nodes=None):
        """Waits until the nodes (default: all) are Ready."""
        names = [n.name for n in (nodes or self.nodes)]
        try:
            wait_until(lambda: all(self.node_ready(name) for name in names), timeout, interval=0.5,
                       what=f"Node Ready ({', '.join(names)})")
        except TimeoutError:
            pods = self.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
            describe = "".join(self.kubectl("describe", "node", name, check=False).stdout[-2000:] for name in names
                               if not self.node_ready(name))
            tails = "".join(self.node(name).log_tail("kubelet", 20) for name in names if not self.node_ready(name))
            raise RuntimeError(f"node not Ready:\n{pods}\n{describe}\n{tails}")

    def cordon(self, *names):
        """Marks nodes unschedulable (their DaemonSet pods stay): the tests written for one node keep
        their pods on node 1."""
        for name in names:
            self.kubectl("cordon", name)

    def uncordon(self, *names):
        for name in names:
            self.kubectl("uncordon", name)

    # ---- node 1's side, as the single-node tests call it --------------------------------------

    def start_containerd(self, timeout=60):
        self.first.start_containerd(timeout)

    def start_kubelet(self):
        self.first.start_kubelet()

    def start_kube_proxy(self):
        self.first.start_kube_proxy()

    def ctr(self, *args, **kwargs):
        return self.first.ctr(*args, **kwargs)

    def import_image(self, archive):
        self.first.import_image(archive)

    def pod_pids(self):
        return set().union(*(node.pod_pids() for node in self.nodes))

    def kill_pods_and_shims(self):
        for node in self.nodes:
            node.kill_pods_and_shims()

    def simulate_reboot(self):
        self.first.simulate_reboot()

    def start_node_side(self):
        self.first.start_containerd()
        self.first.start_kubelet()
        self.first.start_kube_proxy()

    def remove_cgroups(self, keep_root=False):
        for node in self.nodes:
            node.remove_cgroups(keep_root)

    # ---- teardown -------------------------------------------------------------------------------

    def down(self):
        t = time.monotonic()
        for node in self.nodes:
            for component in ("kubelet", "kube-proxy"):
                node.stop(component, grace=5)
        for name in ("kube-scheduler", "kube-controller-manager", "dns"):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        for node in self.nodes:
            node.stop("containerd", grace=10)
        for name in ("kube-apiserver", "etcd"):
            self.stop(name, grace=10)
        for name in list(self.procs):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        for node in self.nodes:
            node.stop_holder()
        self.remove_cgroups()
        for ns in [node.ns for node in self.nodes] + [self.out_ns]:
            run(["ip", "netns", "delete", ns], check=False)
        with open("/proc/self/mounts") as mounts:
            stray = [line.split()[1] for line in mounts if line.split()[1].startswith(self.dir)]
        for mount in sorted(stray, reverse=True):
            run(["umount", "-l", mount], check=False)
        lock = mount_points_lock()
        try:
            in_use = mount_points_of_other_clusters(self.dir)
            for path in sorted(set(self.made_dirs) - in_use, key=len, reverse=True):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        finally:
            os.close(lock)
        shutil.rmtree(self.dir, ignore_errors=True)
        log(f"cluster {self.id} down in {time.monotonic() - t:.1f} s")

    def leftovers(self):
        """Anything of this cluster still on the host after down(); empty when clean."""
        found = {}
        netns = run(["ip", "netns", "list"], check=False).stdout.split()
        found["netns"] = [ns for ns in [n.ns for n in self.nodes] + [self.out_ns] if ns in netns]
        found["cgroups"] = [f"{h}/{n.cgroup}" for h in cgroup_hierarchies() for n in self.nodes
                            if os.path.exists(os.path.join(CGROUP_ROOT, h, n.cgroup))]
        with open("/proc/self/mounts") as mounts:
            found["mounts"] = [line.split()[1] for line in mounts if self.id in line]
        mine = {os.getpid(), os.getppid()}
        found["processes"] = [pid for pid, (_, argv) in process_table().items()
                              if pid not in mine and any(self.dir in a for a in argv)]
        found["run dir"] = [self.dir] if os.path.exists(self.dir) else []
        return {k: v for k, v in found.items() if v}


def default_paths():
    """(kube bin dir, [image archives]) of the cache for the current source package version."""
    out = run(["bash", "-c", f". {HERE}/common.sh && apt_private_update >/dev/null && k8s_cache_dir"], timeout=300)
    cache = out.stdout.strip()
    images = [os.path.join(cache, "images", name) for name in ("pause.tar", "agnhost.tar", "busybox.tar")]
    return os.path.join(cache, "bin"), images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--mask", type=int, default=24)
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--dual-stack", action="store_true", help="IPv6 too (IPv6DualStack feature gate)")
    up.add_argument("--weft-image", default=os.path.join(REPO, ".build", "weft-image.tar"))
    up.add_argument("--no-weft", action="store_true")
    down = sub.add_parser("down")
    down.add_argument("run_dir")
    args = parser.parse_args()
    if args.command == "up":
        kube_bin, images = default_paths()
        cluster = Cluster(kube_bin, images, None if args.no_weft else args.weft_image, mask=args.mask,
                          nodes=args.nodes, dual_stack=args.dual_stack)
        try:
            cluster.up(install_weft=not args.no_weft)
        except BaseException:
            cluster.down()
            raise
        print(cluster.dir)
    else:
        cluster = Cluster.load(args.run_dir)
        cluster.down()
        left = cluster.leftovers()
        if left:
            print(f"left behind: {left}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
