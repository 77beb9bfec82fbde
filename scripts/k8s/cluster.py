#!/usr/bin/env python3
"""A throwaway single-node Kubernetes 1.20 cluster inside network namespaces, for Weft's e2e tier.

Everything runs inside:
- a node network namespace `wt-<id>-k8snode` (the node's address NODE_IP on a veth to
  `wt-<id>-k8sout`, the "outside" that reaches hostPorts the way another machine would): etcd,
  kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy (its iptables rules
  land there) and the DNS stand-in;
- a private mount namespace held by a `sleep` (like Tests/cri's CriNode): a tmpfs /run (containerd's
  state and pod netns mounts, Weft's default store /run/weft/ipam: a node's tmpfs, emptied by the
  simulated reboot), private /etc/cni/net.d, /opt/cni/bin, /var/lib/cni and /var/log bound from the run
  directory, etcd's data on a tmpfs; and, so kubelet leaves the host's sysctls alone, files holding the
  values kubelet wants bound over /proc/sys/vm/overcommit_memory, kernel/panic, kernel/panic_on_oops
  (kubelet only writes a tunable that differs);
- a cgroup subtree `/weft-e2e-<id>` in every v1 hierarchy (kubelet's --cgroup-root).

`down()` stops every process by PID (pods found through the cgroup subtree, shims through their
containerd address), removes the cgroups, the namespaces and the run directory; nothing is mounted in
the host's mount namespace and nothing is added to its network namespace.

CLI: cluster.py up [--mask 24] (prints the run dir, leaves it running) | cluster.py down RUN_DIR
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PATH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
NODE_NAME = "weft-node"
NODE_IP, OUTSIDE_IP = "192.0.2.1", "192.0.2.2"
UPLINK = "eth0"
SERVICE_CIDR, API_SERVICE_IP, DNS_SERVICE_IP = "10.96.0.0/16", "10.96.0.1", "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
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


class Cluster:
    def __init__(self, kube_bin, images, weft_image=None, mask=24, run_dir=None):
        """kube_bin: the cache's bin dir (build.sh); images: OCI archives to import (pause, agnhost,
        busybox); weft_image: .build/weft-image.tar (imported, then installed by deploy/weft.yaml)."""
        self.kube_bin = kube_bin
        self.images = list(images)
        self.weft_image = weft_image
        self.mask = mask
        self.id = secrets.token_hex(4)
        self.dir = run_dir or f"/tmp/weft-e2e-{self.id}"
        self.node_ns = f"wt-{self.id}-k8snode"
        self.out_ns = f"wt-{self.id}-k8sout"
        self.cgroup = f"weft-e2e-{self.id}"
        self.holder = None           # pid of the mount namespace holder
        self.procs = {}              # name -> [pid, starttime, argv]
        self.made_dirs = []          # host mount points created for the private mounts
        self.timings = {}
        self.started_at = None

    # ---- paths --------------------------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def kubeconfig(self):
        return self.path("pki", "admin.kubeconfig")

    @property
    def state_file(self):
        return self.path("state.json")

    @property
    def node_net(self):
        """The node's network namespace through the holder (which lives in it): robust against a sweep
        that deletes the `ip netns` name while the cluster runs."""
        if self.holder:
            return f"/proc/{self.holder}/ns/net"
        return f"/var/run/netns/{self.node_ns}"

    def node_view(self, path):
        """A path inside the node's mount namespace, as the host sees it."""
        return f"/proc/{self.holder}/root{path}"

    # ---- running things -------------------------------------------------------------------------

    def in_node(self, *args, check=False, timeout=60, input=None, mount=True):
        """Runs a command in the node: its network namespace and (mount=True) its mount namespace."""
        prefix = ["nsenter", f"--net={self.node_net}"]
        if mount:
            prefix.insert(1, f"--mount=/proc/{self.holder}/ns/mnt")
        return run(prefix + list(args), check=check, timeout=timeout, input=input)

    def in_outside(self, *args, check=False, timeout=60):
        return run(["nsenter", f"--net=/var/run/netns/{self.out_ns}"] + list(args), check=check, timeout=timeout)

    def kubectl(self, *args, check=True, timeout=120, input=None):
        return run(["nsenter", f"--net={self.node_net}", os.path.join(self.kube_bin, "kubectl"),
                    "--kubeconfig", self.kubeconfig] + list(args), check=check, timeout=timeout, input=input)

    def kubectl_json(self, *args, timeout=60):
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def start(self, name, args, env=None):
        """Starts a daemon in the node (both namespaces), output to logs/<name>.log, in its own session."""
        log_path = self.path("logs", f"{name}.log")
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                ["nsenter", f"--mount=/proc/{self.holder}/ns/mnt", f"--net={self.node_net}"] + args,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env or PATH_ENV,
                start_new_session=True)
        self.procs[name] = [process.pid, start_time(process.pid), args[0]]
        self._children = getattr(self, "_children", {})
        self._children[name] = process
        self.save()
        return process.pid

    def alive(self, name):
        entry = self.procs.get(name)
        if not entry:
            return False
        child = getattr(self, "_children", {}).get(name)
        if child is not None:
            return child.poll() is None
        return start_time(entry[0]) == entry[1]

    def stop(self, name, sig=signal.SIGTERM, grace=10.0):
        """Stops one daemon by PID (checked against its start time), SIGKILL after `grace`."""
        entry = self.procs.get(name)
        if not entry:
            return
        pid, started = entry[0], entry[1]
        child = getattr(self, "_children", {}).pop(name, None)
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
        state = {"id": self.id, "dir": self.dir, "node_ns": self.node_ns, "out_ns": self.out_ns,
                 "cgroup": self.cgroup, "holder": self.holder, "holder_start": start_time(self.holder) if self.holder else None,
                 "procs": self.procs, "made_dirs": self.made_dirs, "kube_bin": self.kube_bin}
        if os.path.isdir(self.dir):
            with open(self.state_file + ".tmp", "w") as out:
                json.dump(state, out)
            os.replace(self.state_file + ".tmp", self.state_file)

    @classmethod
    def load(cls, run_dir):
        with open(os.path.join(run_dir, "state.json")) as f:
            state = json.load(f)
        cluster = cls(state["kube_bin"], [], run_dir=state["dir"])
        cluster.id, cluster.node_ns, cluster.out_ns = state["id"], state["node_ns"], state["out_ns"]
        cluster.cgroup, cluster.procs, cluster.made_dirs = state["cgroup"], state["procs"], state["made_dirs"]
        if state["holder"] and start_time(state["holder"]) == state["holder_start"]:
            cluster.holder = state["holder"]
        return cluster

    # ---- bring-up -------------------------------------------------------------------------------

    def up(self, install_weft=True):
        t0 = self.started_at = time.monotonic()
        for sub in ("pki", "logs", "etcd", "kubelet", "kubelet-plugins", "containerd-root", "cni-bin", "cni-net.d",
                    "cni-cache", "var-log", "tunables", "manifests"):
            os.makedirs(self.path(sub), exist_ok=True)
        self.save()
        self._certificates()
        self._network()
        self._cgroups()
        self._mount_namespace()
        self._configs()
        self._control_plane()
        self.timings["control plane"] = time.monotonic() - t0
        self._node()
        self._dns()
        self.timings["node components"] = time.monotonic() - t0
        if install_weft:
            self.install_weft()
            log(f"cluster up, node Ready in {self.timings['node Ready']:.1f} s (control plane "
                f"{self.timings['control plane']:.1f} s); run dir {self.dir}")
        else:
            log(f"cluster up in {time.monotonic() - t0:.1f} s, node waiting for a network; run dir {self.dir}")
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
        leaf("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}", "clientAuth")
        leaf("kubelet-serving", f"/CN={NODE_NAME}", "serverAuth", [f"IP:{NODE_IP}", f"DNS:{NODE_NAME}", "IP:127.0.0.1"])
        # The service-account signing key.
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{pki}/sa.key")
        openssl("pkey", "-in", f"{pki}/sa.key", "-pubout", "-out", f"{pki}/sa.pub")
        for name, cert in (("admin", "admin"), ("kubelet", "kubelet")):
            self._kubeconfig(f"{pki}/{name}.kubeconfig", f"{pki}/{cert}.crt", f"{pki}/{cert}.key")

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

    def _network(self):
        run(["ip", "netns", "add", self.node_ns])
        run(["ip", "netns", "add", self.out_ns])
        self.save()
        for ns in (self.node_ns, self.out_ns):
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Both ends are born inside their namespaces: nothing appears in the host's root namespace.
        run(["ip", "-n", self.node_ns, "link", "add", UPLINK, "type", "veth", "peer", "name", UPLINK,
             "netns", self.out_ns])
        run(["ip", "-n", self.node_ns, "addr", "add", f"{NODE_IP}/24", "dev", UPLINK])
        run(["ip", "-n", self.out_ns, "addr", "add", f"{OUTSIDE_IP}/24", "dev", UPLINK])
        for ns in (self.node_ns, self.out_ns):
            run(["ip", "-n", ns, "link", "set", UPLINK, "up"])
        # A default route (kube-apiserver, kubelet and kube-proxy pick the node's address from it);
        # the outside namespace routes nowhere further, so nothing leaves the pair.
        run(["ip", "-n", self.node_ns, "route", "add", "default", "via", OUTSIDE_IP])
        # As a node's OS is set up for Kubernetes (kubeadm's preflight checks these): forwarding, and
        # bridged pod-to-pod traffic through iptables so a Service's DNAT is undone on the reply.
        sysctls = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1",
                   "net/bridge/bridge-nf-call-ip6tables": "1"}
        for key, value in sysctls.items():
            run(["nsenter", f"--net=/var/run/netns/{self.node_ns}", "sh", "-c", f"echo {value} > /proc/sys/{key}"])

    def _cgroups(self):
        for hierarchy in cgroup_hierarchies(v2=False):
            path = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            os.makedirs(path, exist_ok=True)
            if hierarchy == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(CGROUP_ROOT, hierarchy, knob)) as parent:
                        value = parent.read().strip()
                    with open(os.path.join(path, knob), "w") as child:
                        child.write(value)
        self.save()

    def _mount_namespace(self):
        mounts = {"/etc/cni/net.d": self.path("cni-net.d"), "/opt/cni/bin": self.path("cni-bin"),
                  "/var/lib/cni": self.path("cni-cache"), "/var/log": self.path("var-log")}
        for target in mounts:
            if not os.path.isdir(target):
                # An empty mount point (removed again by down()); the bind lives only in the private namespace.
                missing = []
                probe = target
                while not os.path.exists(probe):
                    missing.append(probe)
                    probe = os.path.dirname(probe)
                os.makedirs(target)
                self.made_dirs.extend(missing)
        self.save()
        script = ["set -e", f"mount -t tmpfs -o size=1g,mode=0700 tmpfs {self.path('etcd')}",
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
        holder = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{self.node_ns}",
                                   "unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=PATH_ENV,
                                  start_new_session=True)
        line = holder.stdout.readline()
        if line.strip() != "ready":
            holder.kill()
            raise RuntimeError(f"mount namespace setup failed: {line} {holder.stderr.read()}")
        holder.stdout.close()
        holder.stderr.close()
        self.holder = holder.pid
        self._holder_process = holder
        self.save()

    def _configs(self):
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
        with open(self.path("resolv.conf"), "w") as f:
            f.write(f"nameserver {NODE_IP}\n")

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
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--service-node-port-range=30000-32767",
            f"--client-ca-file={pki}/ca.crt", f"--tls-cert-file={pki}/apiserver.crt",
            f"--tls-private-key-file={pki}/apiserver.key",
            f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={pki}/ca.crt",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={pki}/sa.pub", f"--service-account-signing-key-file={pki}/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=1h", "--v=1"])
        self._wait_http("https://127.0.0.1:6443/readyz", "kube-apiserver /readyz", process="kube-apiserver")
        self.start("kube-controller-manager", [
            f"{bin_}/kube-controller-manager", f"--kubeconfig={pki}/admin.kubeconfig", "--leader-elect=false",
            "--port=0", "--secure-port=0", "--allocate-node-cidrs=true", f"--cluster-cidr={CLUSTER_CIDR}",
            f"--node-cidr-mask-size={self.mask}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
            "--use-service-account-credentials=true", f"--cluster-signing-cert-file={pki}/ca.crt",
            f"--cluster-signing-key-file={pki}/ca.key", "--configure-cloud-routes=false", "--v=1"])
        self.start("kube-scheduler", [
            f"{bin_}/kube-scheduler", f"--kubeconfig={pki}/admin.kubeconfig", "--leader-elect=false",
            "--port=0", "--secure-port=0", "--v=1"])

    def start_containerd(self, timeout=60):
        self.start("containerd", ["containerd", "--config", self.path("containerd.toml")])
        sock = self.node_view("/run/containerd/containerd.sock")

        def answering():
            if not self.alive("containerd"):
                raise RuntimeError(f"containerd exited:\n{self.log_tail('containerd')}")
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(sock)
                return True
            except OSError:
                return False
            finally:
                probe.close()
        wait_until(answering, timeout, what="the containerd socket")

    def ctr(self, *args, check=True, timeout=120):
        return self.in_node("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", *args,
                            check=check, timeout=timeout)

    def import_image(self, archive):
        self.ctr("images", "import", "--snapshotter", "overlayfs", archive, timeout=300)

    def start_kubelet(self):
        bin_, pki = self.kube_bin, self.path("pki")
        self.start("kubelet", [
            f"{bin_}/kubelet", f"--kubeconfig={pki}/kubelet.kubeconfig", "--container-runtime=remote",
            "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
            "--runtime-request-timeout=4m",
            f"--root-dir={self.path('kubelet')}", f"--cert-dir={self.path('kubelet', 'pki')}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}",
            "--cgroup-driver=cgroupfs", f"--cgroup-root=/{self.cgroup}", "--fail-swap-on=false",
            "--oom-score-adj=0", f"--cluster-dns={DNS_SERVICE_IP}", "--cluster-domain=cluster.local",
            f"--resolv-conf={self.path('resolv.conf')}", "--pod-infra-container-image=k8s.gcr.io/pause:3.2",
            f"--volume-plugin-dir={self.path('kubelet-plugins')}",
            "--anonymous-auth=false", f"--client-ca-file={pki}/ca.crt", "--authorization-mode=AlwaysAllow",
            f"--tls-cert-file={pki}/kubelet-serving.crt", f"--tls-private-key-file={pki}/kubelet-serving.key",
            "--read-only-port=0", "--healthz-bind-address=127.0.0.1", "--node-status-update-frequency=4s",
            # A deleted pod's API object goes once kubelet's next sync of it finds it reclaimed: every 10 s
            # instead of every minute keeps namespace deletion in the tests short.
            "--sync-frequency=10s",
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
            "--eviction-hard=memory.available<100Mi,nodefs.available<1%,nodefs.inodesFree<1%,imagefs.available<1%",
            "--max-pods=110", "--serialize-image-pulls=false", "--v=2"])

    def start_kube_proxy(self):
        pki = self.path("pki")
        self.start("kube-proxy", [
            f"{self.kube_bin}/kube-proxy", f"--kubeconfig={pki}/admin.kubeconfig", "--proxy-mode=iptables",
            f"--cluster-cidr={CLUSTER_CIDR}", f"--hostname-override={NODE_NAME}", f"--bind-address={NODE_IP}",
            "--conntrack-max-per-core=0", "--oom-score-adj=0", "--metrics-bind-address=127.0.0.1:10249",
            "--healthz-bind-address=127.0.0.1:10256", "--v=1"])

    def _node(self):
        # The node's CNI bin dir holds the reference loopback plugin (containerd sets up every pod's lo
        # through it), as a node provisioned for Kubernetes does; Weft comes from the DaemonSet.
        shutil.copy2("/usr/lib/cni/loopback", self.path("cni-bin", "loopback"))
        self.start_containerd()
        t = time.monotonic()
        for archive in self.images + ([self.weft_image] if self.weft_image else []):
            self.import_image(archive)
        self.timings["image import"] = time.monotonic() - t
        self.start_kubelet()
        self.start_kube_proxy()
        wait_until(lambda: self.kubectl("get", "node", NODE_NAME, check=False).returncode == 0, 90, interval=0.5,
                   what="the Node object")

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

    def install_weft(self, manifest=os.path.join(REPO, "deploy", "weft.yaml"), timeout=180):
        """kubectl apply -f deploy/weft.yaml, then waits for the Node to turn Ready."""
        t = time.monotonic()
        self.kubectl("apply", "-f", manifest)
        self.wait_node_ready(timeout)
        self.timings["weft install to Ready"] = time.monotonic() - t
        if self.started_at is not None:
            self.timings["node Ready"] = time.monotonic() - self.started_at

    def node_ready(self):
        result = self.kubectl("get", "node", NODE_NAME, "-o",
                              "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
        return result.returncode == 0 and result.stdout.strip() == "True"

    def wait_node_ready(self, timeout=180):
        try:
            wait_until(self.node_ready, timeout, interval=0.5, what="Node Ready")
        except TimeoutError:
            pods = self.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
            describe = self.kubectl("describe", "node", NODE_NAME, check=False).stdout
            raise RuntimeError(f"node not Ready:\n{pods}\n{describe[-3000:]}\n{self.log_tail('kubelet', 40)}")

    # ---- node lifecycle, for the leak-recovery test --------------------------------------------

    def pod_pids(self):
        """Every process in the cluster's cgroup subtree (pods' containers and pause processes)."""
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

    def simulate_reboot(self):
        """What a node reboot does to the node's side (the control plane, on the same machine here,
        stays): kubelet, kube-proxy, containerd and every pod process die; /run (a tmpfs: containerd's
        state, the pods' netns mounts, Weft's store) is emptied; the pods' network namespaces vanish with
        their veths, and so do the bridge, Weft's nft table and kube-proxy's iptables rules."""
        for name in ("kubelet", "kube-proxy"):
            self.stop(name, signal.SIGKILL)
        self.stop("containerd", signal.SIGKILL)
        self.kill_pods_and_shims()
        # A lazy unmount detaches the tmpfs with everything mounted below it (the pods' netns files).
        script = "set -e; umount -l /run; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/weft /run/containerd"
        self.in_node("sh", "-c", script, check=True)
        # A fresh boot has no cgroups below the root either (kubelet's cadvisor would otherwise spend
        # seconds on each dead container's cgroup before kubelet syncs a pod).
        self.remove_cgroups(keep_root=True)
        for args in (["ip", "link", "delete", "cni0"], ["nft", "flush", "ruleset"], ["conntrack", "-F"]):
            self.in_node(*args, mount=False)
        links = self.in_node("ip", "-o", "link", "show", "type", "veth", mount=False).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name != UPLINK:
                self.in_node("ip", "link", "delete", name, mount=False)

    def start_node_side(self):
        self.start_containerd()
        self.start_kubelet()
        self.start_kube_proxy()

    def remove_cgroups(self, keep_root=False):
        """rmdir the cluster's cgroup subtree, deepest first, in every hierarchy (processes must be gone)."""
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

    # ---- teardown -------------------------------------------------------------------------------

    def down(self):
        t = time.monotonic()
        for name in ("kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager", "dns"):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        for name in ("containerd", "kube-apiserver", "etcd"):
            self.stop(name, grace=10)
        for name in list(self.procs):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        if self.holder and start_time(self.holder):
            kill_pid(self.holder)
            holder = getattr(self, "_holder_process", None)
            if holder is not None:
                holder.wait(timeout=10)
            else:
                wait_until(lambda: start_time(self.holder) is None, 10, what="the mount holder to exit")
        self.holder = None
        self.remove_cgroups()
        for ns in (self.node_ns, self.out_ns):
            run(["ip", "netns", "delete", ns], check=False)
        with open("/proc/self/mounts") as mounts:
            stray = [line.split()[1] for line in mounts if line.split()[1].startswith(self.dir)]
        for mount in sorted(stray, reverse=True):
            run(["umount", "-l", mount], check=False)
        for path in sorted(self.made_dirs, key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        log(f"cluster {self.id} down in {time.monotonic() - t:.1f} s")

    def leftovers(self):
        """Anything of this cluster still on the host after down(); empty when clean."""
        found = {}
        netns = run(["ip", "netns", "list"], check=False).stdout
        found["netns"] = [ns for ns in (self.node_ns, self.out_ns) if ns in netns]
        found["cgroups"] = [h for h in cgroup_hierarchies() if os.path.exists(os.path.join(CGROUP_ROOT, h, self.cgroup))]
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
    up.add_argument("--weft-image", default=os.path.join(REPO, ".build", "weft-image.tar"))
    up.add_argument("--no-weft", action="store_true")
    down = sub.add_parser("down")
    down.add_argument("run_dir")
    args = parser.parse_args()
    if args.command == "up":
        kube_bin, images = default_paths()
        cluster = Cluster(kube_bin, images, None if args.no_weft else args.weft_image, mask=args.mask)
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
