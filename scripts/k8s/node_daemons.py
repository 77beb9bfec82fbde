"""A node's daemons: containerd (its config, images imported through ctr), kubelet and kube-proxy, started in
the node's namespaces."""

import shutil
import signal

from layout import DNS_SERVICE_IP
from lib import containerd
from lib.processes import wait_listening

CONTAINERD_SOCKET = "/run/containerd/containerd.sock"   # in the node's private /run
PAUSE_IMAGE = "k8s.gcr.io/pause:3.2"                   # the sandbox image (images.py builds it offline)


class NodeDaemons:
    """NodeHost's containerd, kubelet and kube-proxy."""

    def write_containerd_config(self):
        """The node's containerd: its root on the node's disk (its run dir), its state and socket in the
        node's private /run, the node's CNI directories as its mount namespace binds them."""
        containerd.write_config(self.path("containerd.toml"), root=self.path("containerd-root"), state="/run/containerd",
                                socket=CONTAINERD_SOCKET, sandbox_image=PAUSE_IMAGE, bin_dir="/opt/cni/bin",
                                conf_dir="/etc/cni/net.d")

    def start_containerd(self, timeout=60):
        self.start("containerd", ["containerd", "--config", self.path("containerd.toml")])
        wait_listening(self.node_view(CONTAINERD_SOCKET), timeout, f"the containerd socket of {self.name}",
                       exited=lambda: None if self.alive("containerd") else
                       f"containerd of {self.name} exited:\n{self.log_tail('containerd')}")

    def ctr(self, *args, check=True, timeout=120):
        return self.in_node("ctr", "--address", CONTAINERD_SOCKET, "-n", "k8s.io", *args,
                            check=check, timeout=timeout)

    def import_image(self, archive):
        self.ctr("images", "import", "--snapshotter", "overlayfs", archive, timeout=300)

    def start_kubelet(self):
        bin_, pki = self.cluster.kube_bin, self.cluster.path("pki")
        self.start("kubelet", [
            f"{bin_}/kubelet", f"--kubeconfig={pki}/kubelet-{self.name}.kubeconfig", "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{CONTAINERD_SOCKET}",
            "--runtime-request-timeout=4m",
            f"--root-dir={self.path('kubelet')}", f"--cert-dir={self.path('kubelet', 'pki')}",
            f"--hostname-override={self.name}", f"--node-ip={self.ip}" + (f",{self.ip6}" if self.ip6 else ""),
            "--cgroup-driver=cgroupfs", f"--cgroup-root=/{self.cgroup}", "--fail-swap-on=false",
            "--oom-score-adj=0", f"--cluster-dns={DNS_SERVICE_IP}", "--cluster-domain=cluster.local",
            f"--resolv-conf={self.cluster.path('resolv.conf')}", f"--pod-infra-container-image={PAUSE_IMAGE}",
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
        """containerd (images imported), kubelet, kube-proxy (unless the cluster leaves Services to
        weftd). The node's CNI bin dir holds the reference loopback plugin (containerd sets up every
        pod's lo through it), as a node provisioned for Kubernetes does; Weft comes from the DaemonSet."""
        shutil.copy2("/usr/lib/cni/loopback", self.path("cni-bin", "loopback"))
        self.start_containerd()
        for archive in images:
            self.import_image(archive)
        self.start_kubelet()
        if self.cluster.kube_proxy:
            self.start_kube_proxy()

    def stop_node_side(self, sig=signal.SIGKILL):
        """kubelet, kube-proxy, containerd and every pod process of this node die."""
        for component in ("kubelet", "kube-proxy"):
            self.stop(component, sig)
        self.stop("containerd", sig)
        self.kill_pods_and_shims()
