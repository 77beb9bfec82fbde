"""The one bring-up of a Kubernetes control plane's store and API: etcd on 127.0.0.1:2379 and Kubernetes'
own kube-apiserver on ADDRESS:6443, in whichever network namespace `start` runs them. Two ways in:

- client certificates (`certificate_access`): the e2e cluster (scripts/k8s), with Node and RBAC
  authorization and NodeRestriction admission, as a kubeadm cluster has them;
- a bearer token (`token_access`): the benches and the demo's nodes (scripts/kube_lab.py), AlwaysAllow,
  no ServiceAccount admission (no controller-manager makes the tokens), kube-apiserver's own
  self-signed serving certificate.

The caller supplies how a daemon starts (`start(name, argv)`: its namespaces, its log), how to wait, and
how to tell that each answers (from its own namespace, a probe differs)."""

import json
import os
import time

from .commands import run

ETCD_CLIENT_URL = "http://127.0.0.1:2379"
ETCD_PEER_URL = "http://127.0.0.1:2380"
SECURE_PORT = 6443


def etcd_command(etcd, data_dir):
    """A one-member etcd, clients on 127.0.0.1 only (kube-apiserver is its only client)."""
    return [etcd, "--name", "node", "--data-dir", data_dir,
            "--listen-client-urls", ETCD_CLIENT_URL, "--advertise-client-urls", ETCD_CLIENT_URL,
            "--listen-peer-urls", ETCD_PEER_URL, "--initial-advertise-peer-urls", ETCD_PEER_URL,
            "--initial-cluster", f"node={ETCD_PEER_URL}", "--log-level", "warn", "--logger", "zap"]


def etcd_health_command():
    """curl of etcd's /health: its output holds `"true"` once etcd serves."""
    return ["curl", "-s", "-m", "2", f"{ETCD_CLIENT_URL}/health"]


def service_account_keys(directory):
    """The service-account signing key pair (RSA 2048): (private key path, public key path)."""
    key, public = os.path.join(directory, "sa.key"), os.path.join(directory, "sa.pub")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key])
    run(["openssl", "pkey", "-in", key, "-pubout", "-out", public])
    return key, public


def certificate_access(pki):
    """Flags for client-certificate authentication against `pki`/ca.crt, kube-apiserver's serving
    certificate `pki`/apiserver.crt, its client certificate towards kubelets, and the authorization and
    admission of a real cluster."""
    return ["--insecure-port=0", "--service-node-port-range=30000-32767",
            f"--client-ca-file={pki}/ca.crt", f"--tls-cert-file={pki}/apiserver.crt",
            f"--tls-private-key-file={pki}/apiserver.key",
            f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={pki}/ca.crt",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=1h"]


def token_access(directory, token, user):
    """Flags for one bearer token (`user`, in system:masters) and AlwaysAllow; the token file and the
    self-signed serving certificate land in `directory`."""
    tokens = os.path.join(directory, "tokens.csv")
    with open(tokens, "w") as f:
        f.write(f"{token},{user},{user},system:masters\n")
    return token_file_access(directory, tokens)


def token_file_access(directory, tokens, authorization="AlwaysAllow"):
    """Flags for the bearer tokens of the file `tokens` (kube-apiserver's token,user,uid,"groups" lines),
    `authorization` (AlwaysAllow or RBAC), the self-signed serving certificate in `directory`."""
    return [f"--cert-dir={directory}/certs", f"--authorization-mode={authorization}", f"--token-auth-file={tokens}",
            "--disable-admission-plugins=ServiceAccount"]


def token_kubeconfig(path, address, token):
    """A kubeconfig for the token (the serving certificate is self-signed: not verified)."""
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config",
                   "clusters": [{"name": "c", "cluster": {"server": f"https://{address}:{SECURE_PORT}",
                                                          "insecure-skip-tls-verify": True}}],
                   "users": [{"name": "u", "user": {"token": token}}],
                   "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}, f)
    return path


def apiserver_command(kube_bin, address, service_cidrs, service_account, issuer, access, bind=None, verbosity=1,
                      extra=()):
    """kube-apiserver against the etcd above, advertising `address` (listening on `bind`, default the
    same); `service_account`: (private key, public key); `access`: certificate_access or token_access."""
    key, public = service_account
    return [os.path.join(kube_bin, "kube-apiserver"), f"--etcd-servers={ETCD_CLIENT_URL}",
            f"--bind-address={bind or address}", f"--secure-port={SECURE_PORT}", f"--advertise-address={address}",
            f"--service-cluster-ip-range={service_cidrs}", f"--service-account-key-file={public}",
            f"--service-account-signing-key-file={key}", f"--service-account-issuer={issuer}",
            *access, f"--v={verbosity}", *extra]


def bring_up(start, wait, etcd, apiserver, apiserver_ready, etcd_healthy=None):
    """Starts etcd (`etcd`: its argv), waits until `etcd_healthy` holds if given (else kube-apiserver
    retries etcd itself), starts kube-apiserver (`apiserver`: its argv) and waits until `apiserver_ready`.
    `start(name, argv)`; `wait(predicate, timeout, what)`. Returns the seconds from kube-apiserver's start
    to its readiness."""
    start("etcd", etcd)
    if etcd_healthy is not None:
        wait(etcd_healthy, 60, "etcd")
    started = time.monotonic()
    start("kube-apiserver", apiserver)
    wait(apiserver_ready, 120, "kube-apiserver /readyz")
    return time.monotonic() - started


def main(argv=None):
    """`python3 -m lib.apiserver commands …` (PYTHONPATH=scripts): the service-account keys made in --dir
    when missing, then etcd's and kube-apiserver's argv as JSON, for a caller that starts them itself
    (the Swift tests' policy lab, which runs them in its node's namespace and stops them by PID)."""
    import argparse
    parser = argparse.ArgumentParser(prog="lib.apiserver")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = sub.add_parser("commands", help="print etcd's and kube-apiserver's argv as JSON")
    commands.add_argument("--kube-bin", required=True)
    commands.add_argument("--dir", required=True, help="the keys, the serving certificate, etcd's data")
    commands.add_argument("--tokens", required=True, help="kube-apiserver's --token-auth-file")
    commands.add_argument("--authorization", default="AlwaysAllow", choices=["AlwaysAllow", "RBAC"])
    commands.add_argument("--address", default="127.0.0.1")
    commands.add_argument("--service-cidr", default="10.96.0.0/16")
    commands.add_argument("--etcd", default="/usr/bin/etcd")
    args = parser.parse_args(argv)
    key, public = os.path.join(args.dir, "sa.key"), os.path.join(args.dir, "sa.pub")
    keys = (key, public) if os.path.exists(key) and os.path.exists(public) else service_account_keys(args.dir)
    print(json.dumps({
        "etcd": etcd_command(args.etcd, os.path.join(args.dir, "etcd")),
        "apiserver": apiserver_command(args.kube_bin, args.address, args.service_cidr, keys,
                                       "https://kubernetes.default.svc",
                                       token_file_access(args.dir, args.tokens, args.authorization), verbosity=0),
    }))


if __name__ == "__main__":
    main()
