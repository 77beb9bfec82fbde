"""Leak recovery, Kubernetes' "should recover from ip leak" scenario on a /26 podCIDR (61 usable
addresses): a Deployment scaled 0 <-> 60 twice while kubelet or containerd is killed (-9) and
restarted in the middle of the churn, then a simulated node reboot. Every pod must end Running and the
reservations in Weft's store (dataDir/<network>/owners and ips/) must be exactly the running pods."""

import collections
import re
import signal
import time

from harness import PAUSE, STORE, apply, node_leftovers, pods, running_ready, say, store_files
from cluster import wait_until

NS = "leak"
REPLICAS = 60


def _deployment(replicas):
    return f"""apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: churn
  namespace: {NS}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: churn}}
  template:
    metadata:
      labels: {{app: churn}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: pause
        image: {PAUSE}
        resources:
          requests: {{cpu: 1m, memory: 4Mi}}
"""


def _scale(cluster, replicas):
    cluster.kubectl("scale", "deployment", "-n", NS, "churn", f"--replicas={replicas}")


def _state(cluster):
    items = pods(cluster, NS, "app=churn")
    running = {p["status"].get("podIP") for p in items if running_ready(p)}
    return items, running


def _addresses(items):
    """Every address of the running pods (both families' on a dual-stack node): what the store holds."""
    return {entry["ip"] for p in items if running_ready(p) for entry in p["status"].get("podIPs") or []}


def _wait_settled(cluster, replicas, timeout):
    """All `replicas` pods Running (and no others), and the store holding exactly their addresses."""
    def settled():
        items, running = _state(cluster)
        if len(items) != replicas or len(running) != replicas:
            return None
        reserved = set(store_files(cluster, "ips"))
        owners = store_files(cluster, "owners")
        if reserved == _addresses(items) and len(owners) == replicas:
            return {"items": items}
        return None
    try:
        return wait_until(settled, timeout, interval=2, what=f"{replicas} running pods matching the store")["items"]
    except TimeoutError:
        items, running_ips = _state(cluster)
        running = _addresses(items)
        phases = collections.Counter(p["status"].get("phase") for p in items)
        reserved = set(store_files(cluster, "ips"))
        raise AssertionError(
            f"after {timeout}s: {len(items)} pods ({dict(phases)}), {len(running_ips)} running; store holds "
            f"{len(reserved)} addresses, {len(store_files(cluster, 'owners'))} owner records; reserved but not "
            f"running: {sorted(reserved - running)[:10]}; running but not reserved: {sorted(running - reserved)[:10]}")


def _crash(cluster, component):
    """kill -9 and restart after a pause, as a crash and its supervisor would."""
    cluster.stop(component, signal.SIGKILL)
    time.sleep(2)
    if component == "containerd":
        cluster.start_containerd()
    elif component == "kubelet":
        cluster.start_kubelet()


def _sandbox_errors(cluster):
    """Distinct FailedCreatePodSandBox / FailedKillPod messages from kubelet's events."""
    events = cluster.kubectl_json("get", "events", "-n", NS)["items"]
    counts = collections.Counter()
    for event in events:
        if event.get("reason") in ("FailedCreatePodSandBox", "FailedKillPod", "FailedSync"):
            message = " ".join(event.get("message", "").split())
            # Sandbox and pod IDs differ per event: fold them so one kind of error is one line.
            message = re.sub(r"[0-9a-f]{64}", "<sandbox>", message)
            message = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<pod>", message)
            counts[message[:400]] += event.get("count", 1)
    return counts


def test_leak_recovery(cluster, results, cycles=2):
    # Two cycles cover both orders of the crashes (kubelet then containerd, containerd then kubelet); a
    # third repeated the first and cost CI two minutes.
    t0 = time.monotonic()
    apply(cluster, _deployment(0))
    crashes = [("kubelet", "containerd"), ("containerd", "kubelet"), ("kubelet", "containerd")]
    log = []
    for cycle in range(cycles):
        up_crash, down_crash = crashes[cycle % len(crashes)]
        t = time.monotonic()
        _scale(cluster, REPLICAS)
        time.sleep(6)
        say(f"leak cycle {cycle + 1}: scaled to {REPLICAS}, {len(_state(cluster)[1])} running; killing {up_crash}")
        _crash(cluster, up_crash)
        _wait_settled(cluster, REPLICAS, 420)
        log.append(f"cycle {cycle + 1}: 0->{REPLICAS} with {up_crash} killed: settled in {time.monotonic() - t:.0f} s")
        t = time.monotonic()
        _scale(cluster, 0)
        time.sleep(4)
        say(f"leak cycle {cycle + 1}: scaled to 0, {len(_state(cluster)[0])} pods left; killing {down_crash}")
        _crash(cluster, down_crash)
        _wait_settled(cluster, 0, 420)
        log.append(f"cycle {cycle + 1}: {REPLICAS}->0 with {down_crash} killed: settled in {time.monotonic() - t:.0f} s")
    # The reboot: the node side dies, /run (Weft's store, containerd's state) is emptied.
    t = time.monotonic()
    _scale(cluster, REPLICAS)
    before = {p["metadata"]["name"]: p["status"]["podIP"] for p in _wait_settled(cluster, REPLICAS, 420)}
    say("leak: simulated reboot")
    cluster.simulate_reboot()
    assert not store_files(cluster, "owners"), "the store survived the reboot"
    cluster.start_node_side()
    items = _wait_settled(cluster, REPLICAS, 600)
    after = {p["metadata"]["name"]: p["status"]["podIP"] for p in items}
    kept = sum(1 for name in before if name in after)
    log.append(f"reboot with {REPLICAS} pods: all Running again with {len(after)} reservations in "
               f"{time.monotonic() - t:.0f} s ({kept} pod objects survived, sandboxes recreated)")
    # And empty again: nothing left behind.
    t = time.monotonic()
    _scale(cluster, 0)
    _wait_settled(cluster, 0, 420)
    try:
        wait_until(lambda: not node_leftovers(cluster), 60, interval=1, what="a clean node")
    except TimeoutError:
        raise AssertionError(f"node not clean after scaling to 0: {node_leftovers(cluster)}")
    log.append(f"scaled to 0 after the reboot: clean node in {time.monotonic() - t:.0f} s")
    # What kubelet reported on the way (Weft's own errors first: the CNI error is in the message).
    errors = _sandbox_errors(cluster)
    ranked = sorted(errors.items(), key=lambda item: ('type="weft"' not in item[0], -item[1]))
    for message, count in ranked[:10]:
        results.note(f"leak: kubelet event x{count}: {message}")
    results.timing("leak recovery", time.monotonic() - t0)
    return "; ".join(log) + f"; store {STORE}"
