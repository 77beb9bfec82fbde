#!/usr/bin/env python3
"""scripts/bench-policy.py (`SCENARIOS=policy make bench`): NetworkPolicy enforcement by weftd against a
real API server (issue #17). Prints Markdown tables; nothing is asserted on timings.

Everything runs in one throwaway network namespace acting as the node (`<prefix>node`): etcd,
kube-apiserver (token auth, AlwaysAllow; no scheduler, controller-manager or kubelet), weftd
(`--backend none --network-policy`) and the `weft` plugin, which wires pods (namespaces `<prefix>p…`) onto
one bridge. This process joins the node namespace with setns(2), so every child it starts is there;
the host's namespace is never changed. Daemons are stopped by PID, the namespaces and the work
directory removed, on success and on failure. The control plane, the API client, the processes and the
cleanup are scripts/kube_lab.py's, shared with the demo's nodes (scripts/bench-nodes.py).

Pods on this node are network namespaces wired by the plugin's ADD (their Pod objects created first,
`spec.nodeName` this node, `status.podIPs` patched afterwards as kubelet would); pods on other nodes are
Pod objects alone, with `status.podIPs` set through the status subresource.

Measured:
1. NetworkPolicy create → enforced, and delete → lifted: a prober process in a client pod opens a new
   TCP connection to a server pod every PROBE_INTERVAL_MS (a new connection is a new conntrack entry, so
   every attempt meets the policy); an attempt counts as dropped when no SYN-ACK comes within 100 ms.
   Enforcement is the send time of the first attempt of a run of dropped ones (the previous attempt was
   answered: the resolution is that gap). Beside it weftd's own weftd_policy_event_to_kernel_seconds.
   Once with only the probe pods, once with POLICIES policies and PODS pods present.
2. ADD start → first answered connection from a prober pod to the new pod (a listener runs in its
   namespace before ADD; connections fired every PROBE_INTERVAL_MS from ADD's return).
3. ADD duration with `networkPolicy` against the same ADD without it, alternating A B A B, same node,
   same policies and pods.

Knobs (environment): POLICY_ROUNDS=20 (create/delete cycles per load), ADD_ROUNDS=40 (pairs of ADDs),
POLICIES=100, PODS=200, REAL_PODS=20 (of PODS, wired by ADD on this node), PROBE_INTERVAL_MS=1,
WEFT_BIN, WEFTD_BIN, KUBE_BIN (kube-apiserver's directory; default: scripts/k8s's cache), ETCD_BIN.
"""

import json
import os
import random
import secrets
import select
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the clone
sys.path.insert(0, HERE)
import kube_lab  # noqa: E402  scripts/kube_lab.py: the control plane, the API client, processes and cleanup
from kube_lab import PATH, Api, setns  # noqa: E402

TOKEN = "benchtoken"
NODE = "n1"
PORT = 8080
SUBNET = "10.61.0.0/22"
PROBE_NS = "probe"


def log(message):
    print(f"[bench-policy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def now_ns():
    return time.monotonic_ns()


# ---- probing ---------------------------------------------------------------------------------------------

def connect_nonblocking(address, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    # Closing sends a RST: no TIME_WAIT, no FIN exchange left for the next attempt to meet.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sent = now_ns()
    error = s.connect_ex((address, port))
    return s, sent, error


def answered(s):
    error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    # Accepted or refused: either way a packet came back from the pod.
    return error in (0, 111), error


def probe_loop(address, port, interval_ns, timeout_ns, until, ready_after=5, stable=10, give_up_s=30, out=None):
    """Fires a connection every interval until `stable` consecutive attempts have outcome `until`
    (True: answered, False: dropped). Returns (first send ns of that run, send ns of the attempt before
    it, attempts). Prints 'ready' to `out` once `ready_after` attempts had the other outcome."""
    pending = {}  # fd -> (socket, index, sent)
    outcomes = {}  # index -> (sent, answered)
    index = 0
    next_send = now_ns()
    deadline = now_ns() + give_up_s * 10**9
    poller = select.poll()
    ready_sent = out is None
    known = run = 0
    while True:
        t = now_ns()
        if t >= next_send:
            s, sent, error = connect_nonblocking(address, port)
            if error in (0, 111):
                outcomes[index] = (sent, True)
                s.close()
            elif error == 115:  # EINPROGRESS
                pending[s.fileno()] = (s, index, sent)
                poller.register(s.fileno(), select.POLLOUT)
            else:
                outcomes[index] = (sent, False)
                s.close()
            index += 1
            next_send = max(next_send + interval_ns, t)
        wait_ms = max(0, (next_send - now_ns()) / 1e6)
        for fd, _ in poller.poll(wait_ms):
            s, i, sent = pending.pop(fd)
            poller.unregister(fd)
            ok, _ = answered(s)
            outcomes[i] = (sent, ok)
            s.close()
        t = now_ns()
        for fd, (s, i, sent) in list(pending.items()):
            if t - sent > timeout_ns:
                pending.pop(fd)
                poller.unregister(fd)
                outcomes[i] = (sent, False)
                s.close()
        # Outcomes in order of sending: the current run of `until`.
        while known in outcomes:
            if outcomes[known][1] == until:
                run += 1
            else:
                run = 0
            known += 1
            if not ready_sent and known == ready_after:
                if run == 0 and all(outcomes[i][1] != until for i in range(ready_after)):
                    print("ready", file=out, flush=True)
                    ready_sent = True
                else:
                    print("error: the pod is already in the state waited for", file=out, flush=True)
                    return None
            if ready_sent and run >= stable:
                for s, _, _ in pending.values():
                    s.close()
                start = known - run
                previous = outcomes[start - 1][0] if start > 0 else None
                return outcomes[start][0], previous, index
        if now_ns() > deadline:
            for fd, (s, _, _) in pending.items():
                s.close()
            return None


def prober_main(address, port, interval_ms):
    """`bench-policy.py --probe ADDRESS PORT INTERVAL_MS`, in the client pod's namespace: per line on
    stdin (`drop` or `ok`), probes until that state holds and prints `done FIRST PREVIOUS ATTEMPTS`."""
    for line in sys.stdin:
        until = line.strip() == "ok"
        result = probe_loop(address, int(port), int(float(interval_ms) * 1e6), 100 * 10**6, until, out=sys.stdout)
        if result is None:
            print("done - - -", flush=True)
        else:
            first, previous, attempts = result
            print(f"done {first} {previous if previous is not None else '-'} {attempts}", flush=True)


LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4096)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def histogram_mean(after, name, before=None):
    """The mean of what weftd's histogram `name` recorded between two scrapes (since its start without
    `before`), in seconds: its _sum's growth over its _count's; one record between them is that record."""
    before = before or {}
    count = after.get(name + "_count", 0) - before.get(name + "_count", 0)
    return (after.get(name + "_sum", 0) - before.get(name + "_sum", 0)) / count if count else float("nan")


# ---- the API objects -------------------------------------------------------------------------------------

def pod_object(namespace, name, labels, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"name": "http", "containerPort": PORT},
                                               {"name": "metrics", "containerPort": 9090},
                                               {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}}


def policy_path(namespace):
    return f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"


# ---- the generated cluster -------------------------------------------------------------------------------

APPS = [f"app{i}" for i in range(12)]
ROLES = ["client", "server", "db", "cache", "batch"]
TIERS = ["front", "back", "data"]
TEAMS = ["t0", "t1", "t2"]


def namespaces(count=5):
    return [(f"bench-{i}", {"team": TEAMS[i % 3], "env": "prod" if i % 2 == 0 else "dev"}) for i in range(count)]


def random_labels(rng):
    return {"app": rng.choice(APPS), "role": rng.choice(ROLES), "tier": rng.choice(TIERS)}


def random_policies(rng, count, spaces):
    """`count` policies in the bench namespaces: pod selectors (labels, expressions, every pod),
    namespace selectors, ipBlocks with except, numbered and named ports, egress."""
    def peer():
        kind = rng.randrange(6)
        if kind == 0:
            return {"podSelector": {"matchLabels": {"role": rng.choice(ROLES)}}}
        if kind == 1:
            return {"namespaceSelector": {"matchLabels": {"team": rng.choice(TEAMS)}}}
        if kind == 2:
            return {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                    "podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}
        if kind == 3:
            third = rng.randrange(2, 5)
            return {"ipBlock": {"cidr": "10.62.0.0/16", "except": [f"10.62.{third}.0/24", f"10.62.{third + 10}.128/25"]}}
        if kind == 4:
            return {"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": rng.sample(APPS, 3)}]}}
        return {"ipBlock": {"cidr": f"192.168.{rng.randrange(256)}.0/24"}}

    def ports():
        kind = rng.randrange(5)
        if kind == 0:
            return [{"protocol": "TCP", "port": PORT}]
        if kind == 1:
            return [{"port": "http"}]
        if kind == 2:
            return [{"port": "metrics"}, {"protocol": "UDP", "port": "dns"}]
        if kind == 3:
            return [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 53}]
        return []

    policies = []
    for i in range(count):
        namespace = spaces[i % len(spaces)][0]
        kind = rng.randrange(10)
        if kind < 6:
            selector = {"matchLabels": {"app": rng.choice(APPS)}}
        elif kind < 9:
            selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": rng.sample(TIERS, 2)},
                                             {"key": "role", "operator": "Exists"}]}
        else:
            selector = {}
        types = rng.choice([["Ingress"]] * 6 + [["Egress"]] * 1 + [["Ingress", "Egress"]] * 3)
        spec = {"podSelector": selector, "policyTypes": types}
        if "Ingress" in types:
            spec["ingress"] = [{"from": [peer() for _ in range(rng.randrange(1, 4))], "ports": ports()}
                               for _ in range(rng.randrange(1, 3))]
        if "Egress" in types:
            spec["egress"] = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.62.0.0/16"]}}],
                               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 443}]},
                              {"to": [peer()], "ports": ports()}]
        policies.append((namespace, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                     "metadata": {"name": f"p{i:03d}", "namespace": namespace}, "spec": spec}))
    return policies


# ---- statistics ------------------------------------------------------------------------------------------

def quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, int(q * len(ordered) + 0.999999))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values):
    """'median / p90 / max' (same unit as values)."""
    if not values:
        return "–"
    return f"{statistics.median(values):.1f} / {quantile(values, 0.9):.1f} / {max(values):.1f}"


# ---- the bench -------------------------------------------------------------------------------------------

class Bench(kube_lab.Lab):
    stop_timeout = 15
    new_sessions = False  # the daemons, listeners and the prober share this process's session

    def __init__(self):
        prefix = (os.environ.get("BENCH_PREFIX") or f"weft-bench-{secrets.token_hex(4)}") + "-"
        super().__init__(prefix, "weft-bench-policy.", program="bench-policy", warn=log)
        self.node_ns = f"{self.prefix}node"
        self.node_fd = None
        self.pod_fds = {}
        self.pod_count = 0
        self.rounds = env_int("POLICY_ROUNDS", 20)
        self.add_rounds = env_int("ADD_ROUNDS", 40)
        self.policy_count = env_int("POLICIES", 100)
        self.pod_total = env_int("PODS", 200)
        self.real_pods = env_int("REAL_PODS", 20)
        self.interval_ms = float(os.environ.get("PROBE_INTERVAL_MS", "1"))
        self.sock = os.path.join(self.work, "run", "policy.sock")
        self.metrics_address = "127.0.0.1:9410"
        self.api = Api("127.0.0.1", TOKEN)
        self.rng = random.Random(17)

    def in_pod(self, pod_ns, args):
        return ["nsenter", f"--net=/var/run/netns/{pod_ns}"] + args

    # -- the control plane --

    def start_cluster(self):
        self.node_fd = self.add_netns(self.node_ns)
        setns(self.node_fd)  # from here on, this process and its children live in the node namespace
        os.makedirs(f"{self.work}/run", mode=0o700)
        took = self.start_control_plane("bench", interval=0.5)
        log(f"kube-apiserver ready in {took:.1f} s")
        # The namespace the probe pods live in: no generated policy selects its pods.
        self.api.create("/api/v1/namespaces", {"metadata": {"name": PROBE_NS, "labels": {"purpose": "probe"}}})

    def start_weftd(self):
        # weftd refuses to start for a node the API does not have.
        if not getattr(self, "node_created", False):
            self.api.create("/api/v1/nodes", {"metadata": {"name": NODE}})
            self.node_created = True
        self.spawn("weftd", [self.weftd, "run", "--backend", "none", "--network-policy", "--kubeconfig", self.kubeconfig,
                             "--node-name", NODE, "--policy-socket", self.sock, "--metrics-address", self.metrics_address,
                             "--state-file", f"{self.work}/state.json"])
        self.wait_until(lambda: os.path.exists(self.sock) and self.metrics().get("weftd_policy_applies_total", 0) >= 1,
                        60, "weftd's first policy table", interval=0.1)

    def weftd_knows(self, namespace, name):
        """Whether weftd has the Pod (`weftctl policy ls --pod`'s request on the policy socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.sock)
            s.sendall(json.dumps({"op": "explain", "namespace": namespace, "name": name}).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return "no such pod" not in json.loads(reply or b"{}").get("text", "no such pod")

    def metrics(self):
        return kube_lab.metrics(*self.metrics_address.split(":"))

    def settle(self, quiet=1.0, timeout=120):
        """Waits until weftd has committed nothing new for `quiet` seconds."""
        last = self.metrics().get("weftd_policy_applies_total")
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            value = self.metrics().get("weftd_policy_applies_total")
            if value != last:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise TimeoutError("weftd did not settle")

    # -- pods --

    def conf(self, policy):
        conf = {"cniVersion": "1.0.0", "name": "pol", "type": "weft", "subnet": SUBNET, "dataDir": f"{self.work}/ipam"}
        if policy:
            conf["networkPolicy"] = {"socket": self.sock, "failClosed": True}
        return json.dumps(conf).encode()

    def new_pod_ns(self):
        self.pod_count += 1
        name = f"{self.prefix}p{self.pod_count}"
        self.pod_fds[name] = self.add_netns(name)
        return name

    def cni_add(self, pod_ns, namespace, name, policy=True):
        """Runs ADD; returns (seconds, [addresses]). Timed around the plugin process as a runtime sees it."""
        env = {"PATH": PATH, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"bench-{pod_ns}",
               "CNI_NETNS": f"/var/run/netns/{pod_ns}", "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(self.weft),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name}"}
        conf = self.conf(policy)
        start = now_ns()
        result = subprocess.run([self.weft], input=conf, env=env, capture_output=True)
        took = (now_ns() - start) / 1e9
        if result.returncode != 0:
            raise RuntimeError(f"ADD {namespace}/{name} failed ({result.returncode}): {result.stdout[:600]!r} {result.stderr[:600]!r}")
        answer = json.loads(result.stdout)
        return took, [ip["address"].split("/")[0] for ip in answer.get("ips", [])]

    def real_pod(self, namespace, name, labels, policy=True):
        """A Pod object on this node, its namespace wired by ADD, its address reported as kubelet would."""
        self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod_object(namespace, name, labels, NODE))
        pod_ns = self.new_pod_ns()
        _, addresses = self.cni_add(pod_ns, namespace, name, policy)
        self.api.pod_ips(namespace, name, addresses)
        return pod_ns, addresses[0]

    def listener(self, pod_ns):
        process = self.spawn(f"listener-{pod_ns}", self.in_pod(pod_ns, [sys.executable, "-B", "-c", LISTENER, str(PORT)]),
                             stdout=subprocess.PIPE)
        if process.stdout.readline().strip() != b"listening":
            raise RuntimeError(f"the listener in {pod_ns} did not start: {self.tail('listener-' + pod_ns)}")
        return process

    def populate(self):
        """POLICIES policies and PODS pods (REAL_PODS of them on this node, the probe pods included)."""
        started = time.monotonic()
        spaces = namespaces()
        for name, labels in spaces:
            self.api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
        for namespace, policy in random_policies(self.rng, self.policy_count, spaces):
            self.api.create(policy_path(namespace), policy)
        real = max(0, self.real_pods - 3)  # client, web and prober are real pods already
        for i in range(real):
            namespace = spaces[i % len(spaces)][0]
            self.real_pod(namespace, f"real{i}", random_labels(self.rng))
        for i in range(self.pod_total - real - 3):
            namespace = spaces[i % len(spaces)][0]
            node = 2 + i % 3
            name = f"remote{i}"
            self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod_object(namespace, name, random_labels(self.rng), f"n{node}"))
            self.api.pod_ips(namespace, name, [f"10.62.{node * 10 + i // 250}.{1 + i % 250}"])
        self.settle()
        m = self.metrics()
        log(f"populated in {time.monotonic() - started:.1f} s: weftd_policies {m.get('weftd_policies')}, "
            f"weftd_policy_pods {m.get('weftd_policy_pods')}, mean compile {histogram_mean(m, 'weftd_policy_compile_duration_seconds') * 1000:.1f} ms")
        return m

    # -- 1. create → enforced, delete → lifted --

    def enforcement(self, prober, label):
        deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny-web", "namespace": PROBE_NS},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "monitor"}}}], "ports": [{"port": "http"}]}]}}
        rows = {"create": [], "delete": []}
        for _ in range(self.rounds):
            for action in ("create", "delete"):
                before_metrics = self.metrics()
                applies = before_metrics.get("weftd_policy_applies_total", 0)
                prober.stdin.write(b"drop\n" if action == "create" else b"ok\n")
                prober.stdin.flush()
                line = prober.stdout.readline().decode().strip()
                if line != "ready":
                    raise RuntimeError(f"prober: {line or 'exited'} (before {action}, {label})")
                before = now_ns()
                if action == "create":
                    self.api.create(policy_path(PROBE_NS), deny)
                else:
                    self.api.delete(f"{policy_path(PROBE_NS)}/deny-web")
                returned = now_ns()
                done = prober.stdout.readline().decode().split()
                if len(done) != 4 or done[1] == "-":
                    raise RuntimeError(f"prober: no stable {'drop' if action == 'create' else 'answer'} after {action} ({label}): {done}")
                first, previous, attempts = int(done[1]), (int(done[2]) if done[2] != "-" else None), int(done[3])
                time.sleep(0.05)
                m = self.metrics()
                rows[action].append({"api": (returned - before) / 1e6, "from_return": (first - returned) / 1e6,
                                     "from_call": (first - before) / 1e6,
                                     "resolution": (first - previous) / 1e6 if previous else float("nan"),
                                     "weftd": histogram_mean(m, "weftd_policy_event_to_kernel_seconds", before_metrics) * 1000,
                                     "compile": histogram_mean(m, "weftd_policy_compile_duration_seconds", before_metrics) * 1000,
                                     "applies": m.get("weftd_policy_applies_total", 0) - applies, "attempts": attempts})
        return rows

    # -- 2 and 3. ADD with and without networkPolicy, and the first answered connection --

    def first_answer(self, prober_fd, address, deadline_s=5, on_stall=None):
        """From now: a new connection from the prober pod every PROBE_INTERVAL_MS until one is answered;
        returns the time the answer arrived (ns), or None. `on_stall` is called once after 300 ms without."""
        interval = int(self.interval_ms * 1e6)
        pending = {}
        poller = select.poll()
        next_send = now_ns()
        end = next_send + deadline_s * 10**9
        begun = next_send
        try:
            while now_ns() < end:
                if on_stall and now_ns() - begun > 300 * 10**6:
                    on_stall()
                    on_stall = None
                if now_ns() >= next_send:
                    setns(prober_fd)
                    try:
                        s, _, error = connect_nonblocking(address, PORT)
                    finally:
                        setns(self.node_fd)
                    if error in (0, 111):
                        s.close()
                        return now_ns()
                    if error == 115:
                        pending[s.fileno()] = s
                        poller.register(s.fileno(), select.POLLOUT)
                    else:
                        s.close()
                    next_send += interval
                for fd, _ in poller.poll(max(0, (next_send - now_ns()) / 1e6)):
                    s = pending.pop(fd)
                    poller.unregister(fd)
                    ok, _ = answered(s)
                    s.close()
                    if ok:
                        return now_ns()
            return None
        finally:
            for s in pending.values():
                s.close()

    def adds(self, prober_fd):
        rows = {True: [], False: []}
        for i in range(self.add_rounds):
            for policy in (True, False):
                name = f"target-{'a' if policy else 'b'}{i}"
                self.api.create(f"/api/v1/namespaces/{PROBE_NS}/pods", pod_object(PROBE_NS, name, {"app": "target"}, NODE))
                # As under kubelet, whose sandbox comes long after the Pod (scheduling, image, sync):
                # weftd has the Pod from its watch when the ADD asks.
                self.wait_until(lambda: self.weftd_knows(PROBE_NS, name), 10, f"weftd's watch delivering {name}", interval=0.001)
                pod_ns = self.new_pod_ns()
                listener = self.listener(pod_ns)
                before_metrics = self.metrics()
                applies = before_metrics.get("weftd_policy_applies_total", 0)
                start = now_ns()
                took, addresses = self.cni_add(pod_ns, PROBE_NS, name, policy)
                stall = []

                def stalled():
                    # Why no answer yet: the prober's neighbour entry for the pod, the pod's for anyone.
                    prober_neigh = subprocess.run(["ip", "-n", self.prober_ns, "neigh", "show", addresses[0]],
                                                  capture_output=True, text=True).stdout.split()
                    pod_neigh = subprocess.run(["ip", "-n", pod_ns, "neigh"], capture_output=True, text=True).stdout.strip()
                    stall.append(f"{prober_neigh[-1] if prober_neigh else 'none'}/{'empty' if not pod_neigh else 'known'}")
                answer = self.first_answer(prober_fd, addresses[0], on_stall=stalled)
                if answer is None:
                    raise RuntimeError(f"no answer from {name} ({addresses[0]}, networkPolicy {policy}) within 5 s")
                if i == 0 and policy:
                    # The verdicts are in before the first packet: the client pod (not the prober) is dropped.
                    if self.first_answer(self.pod_fds[self.client_ns], addresses[0], deadline_s=1.5) is not None:
                        raise RuntimeError(f"{name} ({addresses[0]}) answered the client pod: its policy is not enforced")
                    neigh = subprocess.run(["ip", "-n", self.client_ns, "neigh", "show", addresses[0]], capture_output=True, text=True).stdout
                    if "lladdr" not in neigh:
                        raise RuntimeError(f"the client pod never resolved {addresses[0]}: the isolation check proves nothing ({neigh!r})")
                m = self.metrics()
                rows[policy].append({"add": took * 1000, "first": (answer - start) / 1e6, "after_add": (answer - start) / 1e6 - took * 1000,
                                     "attach": histogram_mean(m, "weftd_policy_attach_duration_seconds", before_metrics) * 1000 if policy else None,
                                     "applies": m.get("weftd_policy_applies_total", 0) - applies, "stall": stall[0] if stall else None})
                self.api.pod_ips(PROBE_NS, name, addresses)  # as kubelet reports it, after the sandbox
                self.stop(listener)
            if (i + 1) % 10 == 0:
                log(f"ADD rounds: {i + 1}/{self.add_rounds}")
        return rows

    # -- the run --

    def run(self):
        started = time.monotonic()
        self.start_cluster()
        self.start_weftd()
        # The probe pods: client and web for (1), prober for (2), and an allow policy for the targets of (2).
        self.api.create(policy_path(PROBE_NS), {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-prober", "namespace": PROBE_NS},
            "spec": {"podSelector": {"matchLabels": {"app": "target"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "prober"}}}], "ports": [{"port": "http"}]}]}})
        client_ns, _ = self.real_pod(PROBE_NS, "client", {"role": "client"})
        self.client_ns = client_ns
        web_ns, web_ip = self.real_pod(PROBE_NS, "web", {"app": "web"})
        prober_ns, _ = self.real_pod(PROBE_NS, "prober", {"role": "prober"})
        self.prober_ns = prober_ns
        self.listener(web_ns)
        prober = self.spawn("prober", self.in_pod(client_ns, [sys.executable, "-B", os.path.abspath(__file__), "--probe", web_ip,
                                                             str(PORT), str(self.interval_ms)]),
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        self.settle(0.5)
        log(f"(1) on a node with only the probe pods: {self.rounds} rounds")
        quiet = self.enforcement(prober, "quiet")
        loaded_metrics = self.populate()
        log(f"(1) with {self.policy_count} policies and {self.pod_total} pods: {self.rounds} rounds")
        loaded = self.enforcement(prober, "loaded")
        log(f"(2, 3) {self.add_rounds} pairs of ADDs")
        adds = self.adds(self.pod_fds[prober_ns])
        self.report(quiet, loaded, adds, loaded_metrics, time.monotonic() - started)

    def report(self, quiet, loaded, adds, loaded_metrics, elapsed):
        def col(rows, key):
            return [r[key] for r in rows if r[key] is not None and r[key] == r[key]]

        print()
        print(f"| NetworkPolicy → kernel, {self.rounds} rounds (ms: median / p90 / max) | API call | "
              f"enforced, from the call's return | from the call's start | probe resolution | weftd event → kernel | weftd compile |")
        print("|---|---|---|---|---|---|---|")
        for label, rows in (("quiet node (3 pods, 1 policy)", quiet),
                            (f"{self.policy_count} policies, {self.pod_total} pods", loaded)):
            for action, words in (("create", "create → drop"), ("delete", "delete → allow")):
                r = rows[action]
                print(f"| {label}: {words} | {summary(col(r, 'api'))} | {summary(col(r, 'from_return'))} | "
                      f"{summary(col(r, 'from_call'))} | {summary(col(r, 'resolution'))} | {summary(col(r, 'weftd'))} | "
                      f"{summary(col(r, 'compile'))} |")
        extra = [r["applies"] for rows in (quiet, loaded) for action in rows for r in rows[action]]
        print(f"(probe: a new TCP connection from a client pod to the server pod every {self.interval_ms:g} ms, dropped = no SYN-ACK "
              f"within 100 ms; weftd commits per change: {min(extra):g}–{max(extra):g})")

        a, b = adds[True], adds[False]
        print()
        print(f"| {self.policy_count} policies, {self.pod_total} pods: {self.add_rounds} ADDs each, alternating (ms: median / p90 / max) | "
              f"with networkPolicy | without | with ÷ without (median) |")
        print("|---|---|---|---|")
        ratio = statistics.median(col(a, "add")) / statistics.median(col(b, "add"))
        print(f"| ADD duration | {summary(col(a, 'add'))} | {summary(col(b, 'add'))} | {ratio:.2f}× |")
        first_ratio = statistics.median(col(a, "first")) / statistics.median(col(b, "first"))
        print(f"| ADD start → first answered connection from the prober pod | {summary(col(a, 'first'))} | {summary(col(b, 'first'))} | "
              f"{first_ratio:.2f}× |")
        print(f"| of which after ADD returned | {summary(col(a, 'after_add'))} | {summary(col(b, 'after_add'))} | |")
        print(f"| weftd's attach (socket request → verdicts in the kernel) | {summary(col(a, 'attach'))} | – | |")
        stalls = [r["stall"] for r in a + b if r["stall"]]
        if stalls:
            kinds = {k: stalls.count(k) for k in sorted(set(stalls))}
            print(f"({len(stalls)} of {len(a) + len(b)} first answers took over 300 ms (with networkPolicy {sum(1 for r in a if r['stall'])}, "
                  f"without {sum(1 for r in b if r['stall'])}); at 300 ms the prober's neighbour entry for the pod / the pod's neighbour table: "
                  + ", ".join(f"{k} ×{v}" for k, v in kinds.items()) + ")")
        print(f"(the new pod is selected by a policy allowing the prober on the named port http; without networkPolicy weftd "
              f"does not know the address at ADD, so the pod is open until the API reports it; connections fired every "
              f"{self.interval_ms:g} ms from ADD's return)")
        print()
        print(f"weftd with {loaded_metrics.get('weftd_policies', 0):.0f} policies, {loaded_metrics.get('weftd_policy_pods', 0):.0f} of "
              f"this node's pods selected; mean compile while populating {histogram_mean(loaded_metrics, 'weftd_policy_compile_duration_seconds') * 1000:.1f} ms; "
              f"{self.real_pods} pods wired by ADD, {self.pod_total - self.real_pods} on other nodes; run took {elapsed:.0f} s")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        try:
            prober_main(*sys.argv[2:])
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    return kube_lab.bench_main("bench-policy", Bench, log, tails=("weftd", "kube-apiserver"))


if __name__ == "__main__":
    sys.exit(main())
