"""NetworkPolicy from the first packet: weftd (the DaemonSet's `weftd --network-policy`) and the plugin's
ADD, probed from another pod while pods start.

The prober (prober.py) runs in the network namespace of a pod in `policy-probe` (a namespace no policy
selects; entered through the pod's PID with nsenter), so its packets cross the bridge like any pod's.
It probes every address of the node's podCIDR no pod holds, with ICMP echo every 20 ms and a TCP
connect to 8080 every 100 ms, from before the pods below have a sandbox until well after they run.
Weft derives a pod's MAC from its IPv4 address (0a:58 and the four bytes), so the prober's namespace
gets a permanent neighbour entry for every address it probes: no probe waits for ARP, each one is on
the bridge the moment it is sent, and reaches a pod the moment its interface is up.

- start-up window: a target in `policy-deny` (default-deny-ingress) never answers, and its server logs
  no connection, while a control started at the same moment in `policy-open` (no policy) answers, its
  server accepting connections; the target was probed densely (at least MIN_DENSITY of the nominal
  echo requests and connects, over the window and once its interface was up); then, from the same
  prober, the target answers HTTP once a policy lets the prober in (its server was listening: the
  silence was the policy's);
- first probe after ADD: a pod a policy selects and lets the prober in answers every echo request
  sent once its interface is up (its host veth UP, LOWER_UP on the bridge, from `ip monitor` on the
  node), none lost to a late verdict, and its server accepts the prober's connections;
- weftctl policy ls --pod, run on the node, names the policies that select a pod, and weftd's
  /metrics counts them.
Times come from the prober (time.time()), `ip -ts monitor link` on the node and containerd's log
(RunPodSandbox start, RunPodSandbox returns: after the CNI ADD, StartContainer returns: Running), on
the same clock.
"""

import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import time

from harness import AGNHOST, HERE, apply, delete_namespace, node_pod_cidr, pod_pid, pods, say
from cluster import NODE_NAME, wait_until

PROBE_NS, DENY_NS, OPEN_NS, ALLOW_NS, LS_NS = "policy-probe", "policy-deny", "policy-open", "policy-allow", "policy-ls"
PROBE_LABEL = "weft-e2e-role: prober"
WEFTCTL = "/opt/cni/bin/weftctl"
METRICS = "http://127.0.0.1:9410/metrics"
MARK = "weft-policy-probe"   # in the prober's HTTP request, so netexec logs it
SETTLE = 2.0                 # probing before the pods are created
AFTER = 10.0                 # probing after they run
# Between the pod's link coming up and its address being added, ADD makes two netlink requests: an
# echo request sent in that gap has no address to answer it.
ADDRESS_GAP = 0.02
# The prober must have sent at least this share of the echo requests (every 20 ms) and connects (every
# 100 ms) it is set to send, to each target: over the window, and once the target's interface was up.
MIN_DENSITY = 0.5
CONTROL_MARK = "weft-policy-positive-control"


def _namespace(name, labels=""):
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n---\n"


def _pod(namespace, name, app, command):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {app}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {AGNHOST}
    args: {json.dumps(command)}
    ports: [{{containerPort: 8080, name: http}}]
---
"""


def _server(namespace, name, app):
    return _pod(namespace, name, app, ["netexec", "--http-port=8080", "--udp-port=8081"])


def _policy(namespace, name, body):
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: {namespace}
spec:
{body}---
"""


DENY_INGRESS = "  podSelector: {}\n  policyTypes: [Ingress]\n"
ALLOW_FROM_PROBER = f"""  podSelector: {{matchLabels: {{app: allowed}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {{matchLabels: {{{PROBE_LABEL}}}}}
"""


# ---- the node's side ------------------------------------------------------------------------------

def weftd_pod(cluster):
    """The DaemonSet's pod on node 1 (where the policy tests' pods run)."""
    items = [p for p in pods(cluster, "kube-system", "app=weft") if p["spec"].get("nodeName") == NODE_NAME]
    return items[0] if items else None


def check_weftd(cluster):
    """weftd's container is running and ready (its /healthz: lists and watches synced)."""
    pod = weftd_pod(cluster)
    statuses = {s["name"]: s for s in (pod or {}).get("status", {}).get("containerStatuses", [])}
    weftd = statuses.get("weftd", {})
    if not weftd.get("ready"):
        logs = ""
        if pod:
            logs = cluster.kubectl("logs", "-n", "kube-system", pod["metadata"]["name"], "-c", "weftd", "--tail=30",
                                   check=False).stdout
        raise AssertionError(f"weftd not ready: {json.dumps(weftd.get('state', {}))} restarts "
                             f"{weftd.get('restartCount')}; log: {logs[-2500:]}")
    return weftd


def metric(cluster, name):
    out = cluster.in_node("curl", "-sS", "-m", "3", METRICS, mount=False).stdout
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", out, re.M)
    return float(match.group(1)) if match else None


def wait_policies(cluster, timeout=30):
    """Until weftd counts as many NetworkPolicies (weftd_policies) as the API holds: it knows the ones
    just created before a pod starts. Returns how long that took."""
    t = time.monotonic()

    def known():
        return metric(cluster, "weftd_policies") == len(cluster.kubectl_json("get", "networkpolicies", "-A")["items"])
    wait_until(known, timeout, interval=0.05, what=f"weftd_policies to count the API's NetworkPolicies "
               f"(now {metric(cluster, 'weftd_policies')})")
    return time.monotonic() - t


def weftctl(cluster, *args):
    result = cluster.in_node(WEFTCTL, *args)
    if result.returncode != 0:
        raise AssertionError(f"weftctl {' '.join(args)} -> {result.returncode}: {result.stdout}{result.stderr}")
    return result.stdout


def _log_time(line):
    stamp = re.match(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"', line)
    fraction = float("0" + stamp.group(2)) if stamp.group(2) else 0.0
    return datetime.datetime.strptime(stamp.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp() + fraction


def containerd_times(cluster, pod):
    """(sandbox requested, sandbox returned (after the CNI ADD), container started), from containerd's log."""
    meta = re.escape(f"Name:{pod['metadata']['name']},Uid:{pod['metadata']['uid']},")
    container = pod["status"]["containerStatuses"][0]["containerID"].split("//")[-1]
    times = {}
    with open(cluster.path("logs", "containerd.log"), errors="replace") as log:
        for line in log:
            if "RunPodSandbox for" in line and re.search(meta, line):
                times["returned" if "returns sandbox id" in line else "requested"] = _log_time(line)
            elif f'StartContainer for \\"{container}\\" returns successfully' in line:
                times["started"] = _log_time(line)
    missing = [k for k in ("requested", "returned", "started") if k not in times]
    if missing:
        raise AssertionError(f"containerd's log has no {missing} for {pod['metadata']['name']}")
    return times["requested"], times["returned"], times["started"]


# ---- the prober -----------------------------------------------------------------------------------

class Probe:
    """prober.py in the prober pod's netns, over the podCIDR's free addresses, until stop()."""

    def __init__(self, cluster, prober_pod, out):
        network = ipaddress.ip_network(node_pod_cidr(cluster))
        used = {p["status"].get("podIP") for p in cluster.kubectl_json("get", "pods", "-A")["items"]
                if not p["spec"].get("hostNetwork")}
        gateway = str(network.network_address + 1)
        self.addresses = [str(a) for a in network.hosts() if str(a) not in used and str(a) != gateway]
        self.out = out
        pid = pod_pid(cluster.first, prober_pod["metadata"]["uid"])
        neighbours = "".join(f"neigh replace {a} lladdr 0a:58:{':'.join(f'{b:02x}' for b in ipaddress.ip_address(a).packed)} "
                             f"dev eth0 nud permanent\n" for a in self.addresses)
        subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-batch", "-"], input=neighbours.encode(),
                       check=True, capture_output=True, timeout=60)
        self.process = subprocess.Popen(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-B", os.path.join(HERE, "prober.py"),
             "--out", out] + self.addresses, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.process.stdout.readline().decode().strip()
        if line != "probing":
            self.process.kill()
            raise AssertionError(f"prober did not start: {line} {self.process.communicate()[1].decode()[-1000:]}")

    def stop(self):
        try:
            _, err = self.process.communicate(timeout=60)   # closes its stdin: the prober stops
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise AssertionError("prober did not stop")
        if self.process.returncode != 0:
            raise AssertionError(f"prober failed ({self.process.returncode}): {err.decode()[-2000:]}")
        with open(self.out) as f:
            report = json.load(f)
        os.remove(self.out)
        return report


class LinkWatch:
    """`ip -ts -o monitor link` in the node's netns: when each new link came UP with carrier on the bridge,
    by the pod address its alias ends with (Weft's host veth alias: `weft <network> <container> <ifname>
    <addresses>`)."""

    def __init__(self, cluster):
        self.existing = set(re.findall(r"^\d+: ([^:@]+)", cluster.in_node("ip", "-o", "link", mount=False).stdout, re.M))
        self.process = subprocess.Popen(["nsenter", f"--net={cluster.node_net}", "ip", "-ts", "-o", "monitor", "link"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self, cluster):
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        up = {}
        for line in out.splitlines():
            match = re.match(r"\[(\S+)\] \d+: ([^:@]+)\S*: <([^>]*)>.* master cni0 ", line)
            if match and match.group(2) not in self.existing and "LOWER_UP" in match.group(3).split(","):
                up.setdefault(match.group(2), datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp())
        by_address = {}
        for veth, when in up.items():
            alias = re.search(r" alias (.*)$", cluster.in_node("ip", "-o", "link", "show", veth, mount=False).stdout.strip())
            if alias:
                by_address[alias.group(1).split()[-1]] = (veth, when)
        return by_address


def answers(report, address):
    """[(when, what)] of every answer from `address`: echo replies, accepted and refused connects."""
    detail = report["detail"].get(address, {})
    found = [(reply, "echo reply") for _, reply in detail.get("icmp", []) if reply]
    found += [(when, f"tcp {kind}") for _, kind, when in detail.get("tcp", [])]
    return sorted(found)


def density(report, address, since):
    """(echo requests, connects) sent to `address` from `since` to the end of the window, and the
    numbers the prober's intervals call for."""
    detail = report["detail"].get(address, {})
    icmp = sum(1 for t, _ in detail.get("icmp", []) if t >= since)
    tcp = sum(1 for t in detail.get("tcp_sent", []) if t >= since)
    span = max(0.0, report["ended"] - since)
    return icmp, tcp, span / report["icmp_interval"], span / report["tcp_interval"]


def assert_dense(report, address, since, what):
    icmp, tcp, icmp_nominal, tcp_nominal = density(report, address, since)
    if icmp < MIN_DENSITY * icmp_nominal or tcp < MIN_DENSITY * tcp_nominal or not icmp or not tcp:
        raise AssertionError(f"{address} probed too sparsely {what}: {icmp} echo requests of {icmp_nominal:.0f} "
                             f"and {tcp} connects of {tcp_nominal:.0f} nominal (at least {MIN_DENSITY:.0%} needed)")
    return icmp, tcp


def from_prober(cluster, prober_pod, address, timeout):
    """An HTTP request to `address`:8080 from the prober pod's network namespace (the prober's own
    source address), retried until answered or `timeout`; returns the body."""
    pid = pod_pid(cluster.first, prober_pod["metadata"]["uid"])
    url = f"http://{address}:8080/echo?msg={CONTROL_MARK}"
    last = [""]

    def fetch():
        result = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-sS", "-m", "2", url],
                                capture_output=True, text=True, timeout=30)
        last[0] = (result.stdout + result.stderr).strip()
        return result.stdout.strip() if result.returncode == 0 else None
    try:
        return wait_until(fetch, timeout, interval=0.5, what=f"an answer from {url}")
    except TimeoutError:
        raise AssertionError(f"{url} from the prober: no answer in {timeout} s ({last[0][-300:]})")


def sent(report, address):
    counts = report["sent"].get(address, {"icmp": 0, "tcp": 0})
    return counts["icmp"], counts["tcp"]


def served(cluster, namespace, name, mark=MARK):
    """How many of the prober's HTTP requests (with `mark`) the pod's netexec logged."""
    out = cluster.kubectl("logs", "-n", namespace, name, check=False).stdout
    return out.count(mark)


def probe_while_starting(cluster, prober_pod, manifest, started):
    """Probes, creates `manifest`'s pods after SETTLE s, waits until `started` ([(ns, name)]) run, probes
    AFTER s more; returns (report, {name: pod}, {pod address: (new host veth, when it came up)})."""
    probe = Probe(cluster, prober_pod, cluster.path(f"probe-{time.monotonic_ns()}.json"))
    links = LinkWatch(cluster)
    try:
        time.sleep(SETTLE)
        apply(cluster, manifest)

        def running():
            found = {}
            for ns, name in started:
                pod = cluster.kubectl_json("get", "pod", "-n", ns, name)
                statuses = pod["status"].get("containerStatuses", [])
                if pod["status"].get("phase") != "Running" or not statuses or "running" not in statuses[0]["state"]:
                    return None
                found[name] = pod
            return found
        found = wait_until(running, 120, interval=0.2, what=f"{started} Running")
        time.sleep(AFTER)
    finally:
        report = probe.stop()
        up = links.stop(cluster)
    say(f"  prober: {len(probe.addresses)} addresses, {report['ended'] - report['started']:.1f} s, "
        f"{report['send_errors']} send errors")
    return report, found, up


def all_running(cluster, namespace):
    items = pods(cluster, namespace)
    return items if items and all(p["status"].get("phase") == "Running" for p in items) else None


def prober_pod(cluster):
    apply(cluster, _namespace(PROBE_NS, PROBE_LABEL) + _pod(PROBE_NS, "prober", "prober", ["pause"]))
    return wait_until(lambda: all_running(cluster, PROBE_NS), 120, interval=0.5, what="the prober pod")[0]


# ---- tests ----------------------------------------------------------------------------------------

def test_startup_window(cluster, prober):
    """A pod in a default-deny-ingress namespace answers no probe at any moment of its start-up."""
    apply(cluster, _namespace(DENY_NS) + _namespace(OPEN_NS) + _policy(DENY_NS, "default-deny-ingress", DENY_INGRESS))
    try:
        known = wait_policies(cluster)
        report, found, up = probe_while_starting(cluster, prober, _server(DENY_NS, "target", "target") +
                                             _server(OPEN_NS, "control", "control"),
                                             [(DENY_NS, "target"), (OPEN_NS, "control")])
        target, control = found["target"], found["control"]
        target_ip, control_ip = target["status"]["podIP"], control["status"]["podIP"]
        t_requested, t_returned, t_started = containerd_times(cluster, target)
        c_requested, c_returned, _ = containerd_times(cluster, control)
        assert report["started"] < min(t_requested, c_requested) and report["ended"] > t_started + AFTER - 1, \
            "the probing window does not cover the start-up"
        icmp, tcp = sent(report, target_ip)
        assert target_ip in up, f"no host veth for {target_ip} came up during the window: {up}"
        target_up = up[target_ip][1]
        after_up = sum(1 for t, _ in report["detail"].get(target_ip, {}).get("icmp", []) if t >= target_up)
        leaked = answers(report, target_ip)
        logged = served(cluster, DENY_NS, "target")
        control_answers = answers(report, control_ip)
        others = {a: len(answers(report, a)) for a in report["detail"]
                  if a not in (target_ip, control_ip) and answers(report, a)}
        assert control_answers, f"the control {control_ip} never answered: the prober was not live"
        assert any(what == "tcp open" for _, what in control_answers), \
            f"the control {control_ip}'s server never accepted a connection: {control_answers[:10]}"
        window_icmp, window_tcp = assert_dense(report, target_ip, report["started"], "over the window")
        up_icmp, up_tcp = assert_dense(report, target_ip, target_up, "once its interface was up")
        first = control_answers[0][0]
        detail = (f"target {target_ip}: {icmp} echo requests and {tcp} connects during the {report['ended'] - report['started']:.1f} s "
                  f"window, {len(leaked)} answered, {logged} requests logged by its server; sandbox requested → "
                  f"interface up {target_up - t_requested:.2f} s → ADD returned {t_returned - t_requested:.2f} s → "
                  f"Running {t_started - t_requested:.2f} s; {after_up} echo requests and {up_tcp} connects sent once "
                  f"its interface was up (nominal {density(report, target_ip, target_up)[2]:.0f} and "
                  f"{density(report, target_ip, target_up)[3]:.0f}); "
                  f"control {control_ip}: first answer {first - c_requested:.2f} s after its sandbox was requested, "
                  f"{first - c_returned:+.2f} s from RunPodSandbox's return, {len(control_answers)} answers, "
                  f"{served(cluster, OPEN_NS, 'control')} requests logged; weftd counted the policy at most {known:.2f} s after "
                  f"its creation; {len(report['sent'])} addresses probed, {report['send_errors']} send errors")
        if others:
            detail += f"; other addresses answered: {others}"
        assert not leaked and not logged, f"target reached: {leaked[:10]}, {logged} logged; {detail}"
        # The positive control from the same source: the prober's namespace let in, the target answers,
        # so its server was listening and the silence above was the policy's.
        t = time.monotonic()
        apply(cluster, _policy(DENY_NS, "allow-prober-to-target", ALLOW_FROM_PROBER.replace("allowed", "target")))
        body = from_prober(cluster, prober, target_ip, 30)
        assert CONTROL_MARK in body, f"{target_ip}:8080 answered {body!r}"
        assert served(cluster, DENY_NS, "target", CONTROL_MARK) >= 1, "the target's server did not log the request"
        detail += (f"; then, a policy letting the prober in, the target answered the prober over HTTP in "
                   f"{time.monotonic() - t:.2f} s")
        return detail
    finally:
        for ns in (DENY_NS, OPEN_NS):
            delete_namespace(cluster, ns)


def test_first_probe(cluster, prober):
    """A pod a policy lets the prober reach answers every echo request sent once its address is up."""
    apply(cluster, _namespace(ALLOW_NS) + _policy(ALLOW_NS, "allow-from-prober", ALLOW_FROM_PROBER))
    try:
        wait_policies(cluster)
        report, found, up = probe_while_starting(cluster, prober, _server(ALLOW_NS, "allowed", "allowed"),
                                                 [(ALLOW_NS, "allowed")])
        pod = found["allowed"]
        address = pod["status"]["podIP"]
        requested, returned, started = containerd_times(cluster, pod)
        assert address in up, f"no host veth for {address} came up during the window: {up}"
        veth, link_up = up[address]
        detail = report["detail"].get(address)
        assert detail, f"{address} never answered"
        replies = [reply for _, reply in detail["icmp"] if reply]
        assert replies, f"{address} never answered an echo request"
        first = min(replies)
        first_answered = min(t for t, reply in detail["icmp"] if reply)
        # Requests still in flight when the prober stopped do not count.
        lost = [t for t, reply in detail["icmp"] if t >= link_up + ADDRESS_GAP and not reply and t < report["ended"] - 1]
        in_gap = [t for t, reply in detail["icmp"] if link_up <= t < link_up + ADDRESS_GAP and not reply]
        tcp = [when for _, kind, when in detail["tcp"] if kind == "open"]
        assert tcp, f"{address}'s server never accepted a connection from the prober: {detail['tcp'][:10]}"
        text = (f"{address} ({veth}): interface up {link_up - requested:.3f} s after the sandbox was requested, "
                f"RunPodSandbox returned (ADD done) at {returned - requested:.3f} s; first echo reply {first - link_up:.3f} s "
                f"after the interface came up (to a request sent {first_answered - link_up:+.3f} s from it), "
                f"{first - returned:+.3f} s from RunPodSandbox's return; first connection "
                f"{(min(tcp) - link_up) if tcp else float('nan'):.3f} s after; {len(detail['icmp'])} echo requests, "
                f"{len(lost)} unanswered once the interface was up ({len(in_gap)} more in the first "
                f"{ADDRESS_GAP * 1000:.0f} ms, before its address); Running {started - requested:.2f} s; "
                f"{served(cluster, ALLOW_NS, 'allowed')} requests logged")
        assert not lost, f"echo requests lost once the interface was up: {[round(t - link_up, 3) for t in lost[:20]]}; {text}"
        return text
    finally:
        delete_namespace(cluster, ALLOW_NS)


def test_weftctl(cluster, prober):
    """weftctl policy ls --pod names the policies that select a pod; /metrics counts them."""
    apply(cluster, _namespace(LS_NS) + _policy(LS_NS, "deny-all-ingress", DENY_INGRESS) +
          _policy(LS_NS, "allow-web-from-prober", ALLOW_FROM_PROBER.replace("allowed", "web")) +
          _server(LS_NS, "web", "web") + _server(LS_NS, "other", "other"))
    try:
        wait_until(lambda: all_running(cluster, LS_NS), 120, interval=0.5, what="the pods")
        wait_policies(cluster)
        web = weftctl(cluster, "policy", "ls", "--pod", f"{LS_NS}/web")
        other = weftctl(cluster, "policy", "ls", "--pod", f"{LS_NS}/other")
        everything = weftctl(cluster, "policy", "ls")
        for name in ("deny-all-ingress", "allow-web-from-prober"):
            assert name in web, f"{name} missing from `weftctl policy ls --pod {LS_NS}/web`:\n{web}"
        assert "deny-all-ingress" in other and "allow-web-from-prober" not in other, \
            f"`weftctl policy ls --pod {LS_NS}/other`:\n{other}"
        assert f"{LS_NS}/web" in everything, f"`weftctl policy ls` does not list {LS_NS}/web:\n{everything}"
        metrics = {name: metric(cluster, name) for name in (
            "weftd_policies", "weftd_policy_pods", "weftd_policy_compile_duration_seconds_count",
            "weftd_policy_event_to_kernel_seconds_count", "weftd_policy_attach_duration_seconds_count")}
        return f"--pod {LS_NS}/web: {' '.join(web.split())[:400]}; metrics {metrics}"
    finally:
        delete_namespace(cluster, LS_NS)


TESTS = [
    ("start-up window: a pod in a default-deny-ingress namespace answers no probe from sandbox to Running and "
     "after, while a control without policy does", test_startup_window),
    ("first probe after ADD: a pod a policy lets the prober reach answers every echo once its address is up",
     test_first_probe),
    ("weftctl policy ls --pod on the node names the policies selecting a pod; weftd's /metrics counts them",
     test_weftctl),
]


def run_all(cluster, results):
    ok = results.run("policy", "weftd (the DaemonSet's container) running with --network-policy and ready",
                     lambda: f"weftd ready, restarts {check_weftd(cluster).get('restartCount')}")
    if not ok:
        for name, _ in TESTS:
            results.add("policy", name, "SKIP", 0, "weftd is not ready (see above)")
        return
    prober = []
    if results.run("policy", "a prober pod in a namespace no policy selects", lambda: prober.append(prober_pod(cluster))):
        for name, function in TESTS:
            say(f"policy: {name}")
            results.run("policy", name, function, cluster, prober[0])
    delete_namespace(cluster, PROBE_NS)
