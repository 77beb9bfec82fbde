"""scripts/kube_lab.py: what the policy bench (scripts/bench-policy.py) and the nodes of the demo and the
cross-node bench (scripts/bench-nodes.py) share. Imported, not run.

- A control plane in the network namespace the caller has joined: etcd (127.0.0.1:2379) and Kubernetes'
  own kube-apiserver (https://ADDRESS:6443; token auth, AlwaysAllow; no scheduler, controller-manager or
  kubelet), with the service-account keys, the token file and a kubeconfig for weftd in the work directory.
- `Api`: a client for it over HTTPS with the bearer token; `metrics`: weftd's /metrics.
- `Lab`: the binaries (WEFT_BIN, WEFTD_BIN, WEFTCTL_BIN, ETCD_BIN, KUBE_BIN), the work directory, processes
  with their logs there, and the cleanup: every process stopped by its PID in reverse order, every
  namespace of the prefix deleted, the work directory removed (kept with KEEP_WORK). `BenchNode`: a bench's
  node (its namespace joined, the control plane in it) and the listeners its prober connects to.
- `bench_main`: a bench's main(): root, SIGTERM, the daemons' last lines on failure, the cleanup always.

The bring-up itself, the processes and the namespaces are scripts/lib's (the e2e cluster's too).
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from lib import apiserver, netns, processes, prober  # noqa: E402  scripts/lib
from lib.commands import PATH, run  # noqa: E402  (PATH and run: the benches use them from here)
from lib.netns import setns  # noqa: E402  (the benches and the demo use it from here)

__all__ = ["PATH", "Api", "BenchNode", "Lab", "bench_main", "metrics", "run", "setns"]


def default_kube_bin():
    sys.path.insert(0, os.path.join(HERE, "k8s"))
    import cluster  # scripts/k8s/cluster.py: the cache of the current source package version (make k8s-build)
    return cluster.default_paths()[0]


class Api:
    """The API over HTTPS with the token (the server's certificate is its own self-signed one)."""

    def __init__(self, host, token, port=6443):
        self.host, self.port, self.token = host, port, token
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.connection = None

    def call(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in range(3):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                text = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.connection = None
                if attempt == 2:
                    raise
                time.sleep(0.2)
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:400]!r}")
        return json.loads(text) if text else None

    def create(self, path, body):
        return self.call("POST", path, body)

    def delete(self, path):
        return self.call("DELETE", path)

    def pod_ips(self, namespace, name, addresses):
        """status.podIPs (and podIP, phase Running) as kubelet reports them."""
        self.call("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                  {"status": {"phase": "Running", "podIP": addresses[0], "podIPs": [{"ip": a} for a in addresses]}},
                  content_type="application/merge-patch+json")

    def ready(self):
        try:
            connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=2)
            connection.request("GET", "/readyz", headers={"Authorization": f"Bearer {self.token}"})
            response = connection.getresponse()
            ok = response.status == 200 and response.read().strip() == b"ok"
            connection.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False


def metrics(host, port):
    """weftd's /metrics as {series: value}; {} when it does not answer."""
    try:
        connection = http.client.HTTPConnection(host, port, timeout=2)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
    except (OSError, http.client.HTTPException):
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


class Lab:
    """The binaries, a work directory, the processes and the cleanup. A subclass sets `self.api` (an Api)
    before `start_control_plane`, and joins the namespace the control plane is to live in."""

    stop_timeout = 10  # seconds from SIGTERM to SIGKILL
    new_sessions = True  # children in sessions of their own: a Ctrl-C reaches this process, which stops them

    def __init__(self, prefix, work_prefix, program="", weftctl=False, warn=None):
        """`prefix`: the namespaces' (cleanup deletes every one that starts with it); `work_prefix`: the
        work directory's under the temp directory; `weftctl`: whether weftctl must be there too."""
        self.weft = os.path.abspath(os.environ.get("WEFT_BIN", os.path.join(REPO, ".build", "release", "weft")))
        bindir = os.path.dirname(self.weft)
        self.weftd = os.path.abspath(os.environ.get("WEFTD_BIN", os.path.join(bindir, "weftd")))
        self.weftctl = os.path.abspath(os.environ.get("WEFTCTL_BIN", os.path.join(bindir, "weftctl")))
        self.etcd = os.environ.get("ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
        self.kube_bin = os.environ.get("KUBE_BIN") or default_kube_bin()
        self.apiserver = os.path.join(self.kube_bin, "kube-apiserver")
        for binary in (self.weft, self.weftd) + ((self.weftctl,) if weftctl else ()) + (self.etcd, self.apiserver):
            if not os.access(binary, os.X_OK):
                raise SystemExit(f"{program + ': ' if program else ''}needs {binary} (make build k8s-build e2e-deps)")
        self.prefix = prefix
        self.work = tempfile.mkdtemp(prefix=work_prefix)
        self.warn = warn or (lambda message: print(message, file=sys.stderr))
        self.processes = []  # (name, Popen), stopped by PID in reverse order
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.fds = []  # the namespaces add_netns opened, closed by cleanup
        self.api = None
        self.kubeconfig = None

    # -- processes --

    def spawn(self, name, args, ns=None, stdout=None, stdin=None):
        """A process (in network namespace `ns` if given, else this process's), its stderr in <work>/<name>.log.
        nsenter execs the program, so the PID kept is the program's."""
        if ns:
            args = netns.enter(netns.path(ns)) + list(args)
        process = processes.start(args, os.path.join(self.work, f"{name}.log"), stdout=stdout, stdin=stdin,
                                  new_session=self.new_sessions)
        self.processes.append((name, process))
        return process

    def stop(self, process):
        processes.stop_process(process, grace=self.stop_timeout)
        self.processes = [(n, p) for n, p in self.processes if p is not process]

    def tail(self, name, lines=20):
        return processes.log_tail(os.path.join(self.work, f"{name}.log"), lines)

    def wait_until(self, predicate, timeout, what, interval=0.05):
        """Polls `predicate` until it is true (returns its value); fails at once when etcd, kube-apiserver
        or a weftd exits meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            for name, process in self.processes:
                if name in ("etcd", "kube-apiserver") or name.startswith("weftd"):
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited ({process.returncode}) while waiting for {what}:\n{self.tail(name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    # -- namespaces --

    def add_netns(self, name):
        """A network namespace with lo up; returns an fd on it (for setns), closed by cleanup."""
        netns.add(name)
        fd = os.open(netns.path(name), os.O_RDONLY)
        self.fds.append(fd)
        return fd

    def cleanup(self):
        for name, process in reversed(list(self.processes)):
            try:
                self.stop(process)
            except Exception as error:  # keep cleaning
                self.warn(f"stopping {name} (pid {process.pid}): {error}")
        try:
            setns(self.host_fd)
        except OSError as error:
            self.warn(f"back to the host's namespace: {error}")
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        netns.delete_with_prefix(self.prefix)
        if os.environ.get("KEEP_WORK"):
            self.warn(f"work directory kept: {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- the control plane --

    def start_control_plane(self, user, interval):
        """etcd and kube-apiserver on `self.api.host`, in the namespace this process is in (scripts/lib/apiserver.py's
        bring-up, with a bearer token); returns the seconds from kube-apiserver's start to /readyz answering `ok`
        (polled every `interval` s)."""
        w, address, token = self.work, self.api.host, self.api.token
        keys = apiserver.service_account_keys(w)
        self.kubeconfig = apiserver.token_kubeconfig(f"{w}/kubeconfig", address, token)
        return apiserver.bring_up(
            self.spawn, lambda predicate, timeout, what: self.wait_until(predicate, timeout, what, interval=interval),
            etcd=apiserver.etcd_command(self.etcd, f"{w}/etcd"),
            apiserver=apiserver.apiserver_command(self.kube_bin, address, "10.96.0.0/16", keys, "https://kubernetes.default.svc",
                                                  apiserver.token_access(w, token, user), verbosity=0),
            apiserver_ready=self.api.ready)


class BenchNode(Lab):
    """A bench's node: network namespace `<prefix>node` (the prefix BENCH_PREFIX, else `weft-bench-<8 hex>`),
    which this process joins with the control plane in it, and the listeners its prober connects to. The
    daemons, listeners and the prober share this process's session."""

    stop_timeout = 15
    new_sessions = False

    def __init__(self, program, log):
        prefix = (os.environ.get("BENCH_PREFIX") or f"weft-bench-{secrets.token_hex(4)}") + "-"
        super().__init__(prefix, f"weft-{program}.", program=program, warn=log)
        self.node_ns = f"{self.prefix}node"
        self.node_fd = None

    def start_node(self):
        """The node's namespace, joined by this process (and so by its children from here on), `<work>/run`,
        and the control plane in it with the user `bench`; returns the seconds kube-apiserver took to be ready."""
        self.node_fd = self.add_netns(self.node_ns)
        setns(self.node_fd)
        os.makedirs(f"{self.work}/run", mode=0o700)
        return self.start_control_plane("bench", interval=0.5)

    def listener(self, ns, port):
        """A TCP listener (scripts/lib/prober.py's) on `port` in namespace `ns`, returned once it listens."""
        process = self.spawn(f"listener-{ns}", [sys.executable, "-B", "-c", prober.LISTENER, str(port)], ns=ns, stdout=subprocess.PIPE)
        if process.stdout.readline().strip() != b"listening":
            raise RuntimeError(f"the listener in {ns} did not start: {self.tail('listener-' + ns)}")
        return process


def bench_main(program, make, log, tails=("weftd",), lab=lambda bench: bench):
    """A bench's main(): needs root; SIGTERM exits 143 (so the cleanup runs); `make()` builds the bench and
    its `run()` runs; on a failure the last 15 lines of the log of every process whose name starts with one of
    `tails` (in that order); the cleanup of `lab(bench)` whatever happens."""
    if os.geteuid() != 0:
        print(f"{program}: needs root", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = make()
    try:
        bench.run()
    except BaseException:
        for prefix in tails:
            for name, _ in lab(bench).processes:
                if name.startswith(prefix):
                    text = lab(bench).tail(name, 15)
                    if text:
                        log(f"last lines of {name}:\n{text}")
        raise
    finally:
        lab(bench).cleanup()
    return 0
