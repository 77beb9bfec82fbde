"""The cluster's certificates (openssl, EC P-256, valid 7 days): its CA, kube-apiserver's serving and
kubelet-client certificates, the admin's, each kubelet's client and serving ones, the service-account key
pair, and the kubeconfigs that carry them."""

import os

from layout import API_SERVICE_IP, NODE_IP, NODE_NAME
from lib import apiserver
from lib.commands import run


class Certificates:
    """Cluster's certificates and kubeconfigs (in `pki/` of the run dir)."""

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
        apiserver.service_account_keys(pki)
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
