"""What the e2e drivers share: results, waiting on pods, and what a clean node looks like."""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts", "k8s"))

from cluster import CGROUP_ROOT, NODE_NAME, UPLINK, wait_until  # noqa: E402

AGNHOST = "k8s.gcr.io/e2e-test-images/agnhost:2.21"
PAUSE = "k8s.gcr.io/pause:3.2"
NETWORK = "weft"                       # the conflist's name in deploy/weft.yaml
STORE = f"/run/weft/ipam/{NETWORK}"    # Weft's default dataDir/<network>, in the node's /run


def say(message):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Results:
    """One line per test: PASS/FAIL/SKIP, section, name, seconds, detail; rewritten after each."""

    def __init__(self, path):
        self.path = path
        self.rows = []
        self.timings = []
        self.notes = []

    def add(self, section, name, status, seconds=0.0, detail=""):
        self.rows.append((status, section, name, seconds, detail))
        say(f"{status} [{section}] {name} ({seconds:.1f} s){': ' + detail if detail else ''}")
        self.write()

    def timing(self, what, seconds):
        self.timings.append((what, seconds))
        self.write()

    def note(self, text):
        self.notes.append(text)
        self.write()

    def run(self, section, name, function, *args):
        start = time.monotonic()
        try:
            detail = function(*args) or ""
            self.add(section, name, "PASS", time.monotonic() - start, detail)
            return True
        except Exception as error:  # a failed check, or anything the cluster threw
            self.add(section, name, "FAIL", time.monotonic() - start, f"{type(error).__name__}: {error}")
            return False

    def counts(self):
        passed = sum(1 for r in self.rows if r[0] == "PASS")
        failed = sum(1 for r in self.rows if r[0] == "FAIL")
        skipped = sum(1 for r in self.rows if r[0] == "SKIP")
        return passed, failed, skipped

    def write(self):
        lines = []
        for section in dict.fromkeys(r[1] for r in self.rows):
            rows = [r for r in self.rows if r[1] == section]
            p = sum(1 for r in rows if r[0] == "PASS")
            f = sum(1 for r in rows if r[0] == "FAIL")
            s = sum(1 for r in rows if r[0] == "SKIP")
            lines.append(f"## {section}: {p} passed, {f} failed, {s} skipped")
            for status, _, name, seconds, detail in rows:
                line = f"{status} {name} ({seconds:.1f} s)"
                if detail:
                    line += " -- " + " ".join(str(detail).split())[:1500]
                lines.append(line)
            lines.append("")
        if self.timings:
            lines.append("## timings")
            lines += [f"{what}: {seconds:.1f} s" for what, seconds in self.timings]
            lines.append("")
        if self.notes:
            lines.append("## notes")
            lines += self.notes
            lines.append("")
        p, f, s = self.counts()
        lines.append(f"e2e: {p} passed, {f} failed, {s} skipped")
        with open(self.path + ".tmp", "w") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(self.path + ".tmp", self.path)


# ---- Kubernetes helpers ---------------------------------------------------------------------------

def apply(cluster, manifest):
    cluster.kubectl("apply", "-f", "-", input=manifest)


def pinned_netexec_pod(name, namespace, node, app):
    """A Pod running agnhost netexec (HTTP 8080, UDP 8081) pinned to NODE by spec.nodeName, ready once
    it answers /healthz."""
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {app}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: netexec
    image: {AGNHOST}
    args: ["netexec", "--http-port=8080", "--udp-port=8081"]
    readinessProbe:
      httpGet: {{path: /healthz, port: 8080}}
      periodSeconds: 1
"""


def pods(cluster, namespace, selector=None):
    args = ["get", "pods", "-n", namespace]
    if selector:
        args += ["-l", selector]
    return cluster.kubectl_json(*args)["items"]


def running_ready(pod):
    if pod["status"].get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    return all(c.get("ready") for c in pod["status"].get("containerStatuses", []))


def wait_pods(cluster, namespace, selector, count, timeout=180):
    """Waits until exactly `count` pods match and all are Running and ready; returns them."""
    def ready():
        items = pods(cluster, namespace, selector)
        if len(items) == count and all(running_ready(p) for p in items):
            return items
        return None
    t = time.monotonic()
    try:
        items = wait_until(ready, timeout, interval=1, what=f"{count} ready pods {selector} in {namespace}")
        say(f"  {count} pods {selector} ready in {time.monotonic() - t:.1f} s")
        return items
    except TimeoutError as error:
        listing = cluster.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout
        events = cluster.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout
        raise TimeoutError(f"{error}\n{listing}\n{events[-4000:]}")


def exec_in(cluster, namespace, pod, *command, check=True, timeout=60):
    result = cluster.kubectl("exec", "-n", namespace, pod, "--", *command, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exec {pod}: {' '.join(command)} -> {result.returncode}: {result.stdout}{result.stderr}")
    return result.stdout


def retry(function, what, timeout=30, interval=1):
    """The value of `function` once it stops failing an assertion: a path right after a pod turns ready
    can lag by a second or two (kube-proxy's sync, neighbour resolution)."""
    last = [None]

    def attempt():
        try:
            return function()
        except AssertionError as error:
            last[0] = error
            return None
    t = time.monotonic()
    try:
        value = wait_until(attempt, timeout, interval=interval, what=what)
        say(f"  {what}: {time.monotonic() - t:.1f} s")
        return value
    except TimeoutError:
        raise AssertionError(f"{what}: {last[0]}")


def pod_pid(node, uid):
    """A process of the pod (its cgroup under the node's kubelet --cgroup-root): the way into its netns."""
    for hierarchy in ("pids", "memory", "cpu"):
        for root, _dirs, files in os.walk(os.path.join(CGROUP_ROOT, hierarchy, node.cgroup)):
            if f"pod{uid}" not in root.split("/") or "cgroup.procs" not in files:
                continue
            with open(os.path.join(root, "cgroup.procs")) as procs:
                pids = procs.read().split()
            if pids:
                return int(pids[0])
    raise AssertionError(f"no process of pod {uid} under {node.cgroup}")


def delete_namespace(cluster, namespace, timeout=180):
    t = time.monotonic()
    cluster.kubectl("delete", "namespace", namespace, "--wait=true", f"--timeout={timeout}s", check=False,
                    timeout=timeout + 30)
    wait_until(lambda: cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0, timeout,
               interval=1, what=f"namespace {namespace} to go")
    say(f"  namespace {namespace} deleted in {time.monotonic() - t:.1f} s")


def node_pod_cidr(cluster):
    return cluster.kubectl_json("get", "node", NODE_NAME)["spec"]["podCIDR"]


# ---- the node's side ------------------------------------------------------------------------------

def node_links(cluster, kind):
    out = cluster.in_node("ip", "-o", "link", "show", "type", kind, mount=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n != UPLINK]


def store_files(cluster, sub):
    path = cluster.node_view(f"{STORE}/{sub}")
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def weft_nft_elements(cluster):
    listing = cluster.in_node("nft", "list", "table", "inet", "weft", mount=False)
    if listing.returncode != 0:
        return []
    return [line.strip() for line in listing.stdout.splitlines() if f"weft/{NETWORK}/" in line]


def weft_iptables(cluster):
    """iptables chains or rules of Weft's, or of the reference plugins' style (CNI-*): Weft uses nftables
    only, so there must be none."""
    found = []
    for tool in ("iptables-save", "ip6tables-save"):
        out = cluster.in_node(tool, mount=False).stdout
        found += [line for line in out.splitlines() if "weft" in line.lower() or "CNI-" in line]
    return found


def node_leftovers(cluster):
    """Weft's traces on the node; empty when no pod network attachment exists."""
    found = {
        "veths": node_links(cluster, "veth"),
        "ifbs": node_links(cluster, "ifb"),
        "owners": store_files(cluster, "owners"),
        "ips": store_files(cluster, "ips"),
        "nft elements": weft_nft_elements(cluster),
        "iptables": weft_iptables(cluster),
    }
    return {k: v for k, v in found.items() if v}


def assert_node_clean(cluster, timeout=60):
    """The node carries nothing of Weft's but the bridge and the table's fixed rules."""
    t = time.monotonic()
    try:
        wait_until(lambda: not node_leftovers(cluster), timeout, interval=1, what="a clean node")
        say(f"  node clean after {time.monotonic() - t:.1f} s")
    except TimeoutError:
        raise AssertionError(f"node not clean: {json.dumps(node_leftovers(cluster))}")
