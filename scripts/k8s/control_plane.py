"""The cluster's control plane on node 1: etcd and kube-apiserver (scripts/lib/apiserver.py's bring-up, with
client certificates), controller-manager, scheduler, the DNS stand-in (dns.py) and its kube-dns Service;
then Weft installed by its DaemonSet and the Nodes waited Ready."""

import os
import sys
import time

from layout import DNS_SERVICE_IP, HERE, NODE_IP, NODE_NAME, REPO
from lib import apiserver
from lib.commands import wait_until


class ControlPlane:
    """Cluster's control plane and readiness."""

    def _readyz(self, process):
        """A predicate: kube-apiserver's /readyz answers `ok` to the admin's certificate, asked from node 1's
        network namespace; raises at once when `process` has exited."""
        pki = self.path("pki")

        def ready():
            if not self.alive(process):
                raise RuntimeError(f"{process} exited:\n{self.log_tail(process)}")
            result = self.in_node("curl", "-sS", "-m", "3", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt",
                                  "--key", f"{pki}/admin.key", f"https://127.0.0.1:{apiserver.SECURE_PORT}/readyz",
                                  mount=False)
            return result.returncode == 0 and result.stdout.strip() == "ok"
        return ready

    def _control_plane(self):
        bin_, pki = self.kube_bin, self.path("pki")
        # etcd's data on node 1's tmpfs (mount_namespace), kube-apiserver on every address of node 1.
        apiserver.bring_up(
            self.start, lambda predicate, timeout, what: wait_until(predicate, timeout, interval=0.3, what=what),
            etcd=apiserver.etcd_command("etcd", self.path("etcd", "data")),
            apiserver=apiserver.apiserver_command(
                bin_, NODE_IP, self.service_cidrs, (f"{pki}/sa.key", f"{pki}/sa.pub"),
                "https://kubernetes.default.svc.cluster.local", apiserver.certificate_access(pki), bind="0.0.0.0",
                extra=self.gates),
            apiserver_ready=self._readyz("kube-apiserver"),
            etcd_healthy=lambda: '"true"' in self.in_node(*apiserver.etcd_health_command(), mount=False).stdout)
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
