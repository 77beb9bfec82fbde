"""The multi-node part: Weft's DaemonSet alone connects three nodes (weftd's kube backend, vxlan).

Pods are pinned to nodes (spec.nodeName), so every check names the path it crosses. Then the
disruptions of issue #25, each measured while long-lived TCP streams (streams.py, one keep-alive HTTP
connection per target) and a 10 ms ping cross the nodes: weftd restarted, the DaemonSet rolled to
a new image, a node rebooted, a node lost (its Node deleted) and a node joining.
"""

import ipaddress
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from harness import HERE, REPO, apply, delete_namespace, exec_in, pinned_netexec_pod, pod_pid, pods, retry, running_ready, say
from cluster import CLUSTER_CIDR, wait_until

NS = "multinode"
VXLAN = "weft.1"             # weftd's vxlan device for VNI 1 (flanneld's is flannel.1; the same wire format)
LOSS_BOUND = 15.0            # seconds: a lost Node's routes, neighbours and FDB entries gone everywhere
FRESH_COUNT = 20             # test_service_across_nodes: fresh connections per client and protocol
FRESH_BOUND = 3.0            # seconds each may take: see test_service_across_nodes


def _pod(name, node):
    return pinned_netexec_pod(name, NS, node, "multi")


SERVICE = f"""apiVersion: v1
kind: Service
metadata:
  name: multi
  namespace: {NS}
spec:
  selector: {{app: multi}}
  ports:
  - {{name: http, port: 80, targetPort: 8080, protocol: TCP}}
"""


def _pod_name(node):
    return f"on-{node.name}"


def _place(cluster, nodes, timeout=240):
    """One netexec pod on each node; returns {node name: pod}."""
    for node in nodes:
        apply(cluster, _pod(_pod_name(node), node.name))
    names = {_pod_name(node): node.name for node in nodes}

    def ready():
        items = {p["metadata"]["name"]: p for p in pods(cluster, NS, "app=multi")}
        if all(name in items and running_ready(items[name]) for name in names):
            return {names[name]: items[name] for name in names}
        return None
    try:
        return wait_until(ready, timeout, interval=1, what=f"pods on {sorted(names.values())}")
    except TimeoutError as error:
        listing = cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
        raise AssertionError(f"{error}\n{listing}")


def _expect(got, wanted):
    if got != wanted:
        raise AssertionError(f"answered {got!r}, wanted {wanted!r}")
    return got


def _http(cluster, pod, url):
    return exec_in(cluster, NS, pod["metadata"]["name"], "curl", "-sS", "-m", "3", url, check=False).strip()


def _udp(cluster, pod, address):
    return exec_in(cluster, NS, pod["metadata"]["name"], "sh", "-c",
                   f"echo hostname | nc -u -w 1 {address} 8081", check=False).strip()


# ---- the fabric as each node's kernel has it ------------------------------------------------------

def fabric(node):
    """{routes: {podCIDR: line}, neighbours: [vtep addresses], fdb: [underlay addresses]} on `node`."""
    routes = {}
    for line in node.in_node("ip", "-4", "route", "show", "root", CLUSTER_CIDR, mount=False).stdout.splitlines():
        if f"dev {VXLAN}" in line:
            routes[line.split()[0]] = line.strip()
    neighbours = [line.split()[0] for line in
                  node.in_node("ip", "-4", "neigh", "show", "dev", VXLAN, mount=False).stdout.splitlines() if line.strip()]
    fdb = re.findall(r"dst (\S+)", node.in_node("bridge", "fdb", "show", "dev", VXLAN, mount=False).stdout)
    return {"routes": routes, "neighbours": neighbours, "fdb": fdb}


def _pod_cidr(cluster, node):
    return cluster.kubectl_json("get", "node", node.name)["spec"].get("podCIDR")


def _peer_entries(cluster, node, peer, peer_cidr):
    """What `node` holds for `peer`: its route, neighbour (the peer's VTEP, its subnet's .0 address) and
    FDB entry (its underlay address)."""
    state = fabric(node)
    vtep = str(ipaddress.ip_network(peer_cidr).network_address)
    return {"route": state["routes"].get(peer_cidr), "neighbours": state["neighbours"].count(vtep),
            "fdb": state["fdb"].count(peer.ip)}


# ---- traffic across the nodes while something happens ---------------------------------------------

class Traffic:
    """From `source` (a pod on node 1): a keep-alive TCP stream to each target pod, and a 10 ms ping to
    the first, both from inside the pod's network namespace."""

    def __init__(self, cluster, source, targets):
        node = cluster.node(source["spec"]["nodeName"])
        pid = pod_pid(node, source["metadata"]["uid"])
        self.addresses = [t["status"]["podIP"] for t in targets]
        self.out = cluster.path(f"streams-{time.monotonic_ns()}.json")
        netns = f"--net=/proc/{pid}/ns/net"
        self.streams = subprocess.Popen(
            ["nsenter", netns, sys.executable, "-B", os.path.join(HERE, "streams.py"), "--out", self.out]
            + self.addresses, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.streams.stdout.readline().decode().strip()
        if line != "streaming":
            self.streams.kill()
            raise AssertionError(f"streams did not start: {line} {self.streams.communicate()[1].decode()[-1000:]}")
        self.ping = subprocess.Popen(["nsenter", netns, "ping", "-q", "-n", "-i", "0.01", self.addresses[0]],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started = time.monotonic()

    def stop(self):
        """{"streams": [...], "ping": {"sent", "received", "lost"}}"""
        self.ping.send_signal(signal.SIGINT)     # ping prints its summary on SIGINT
        ping_out, ping_err = self.ping.communicate(timeout=30)
        try:
            _, err = self.streams.communicate(timeout=60)   # closes its stdin: the streams stop
        except subprocess.TimeoutExpired:
            self.streams.kill()
            self.streams.communicate()
            raise AssertionError("streams did not stop")
        if self.streams.returncode != 0:
            raise AssertionError(f"streams failed ({self.streams.returncode}): {err.decode()[-2000:]}")
        with open(self.out) as f:
            report = json.load(f)
        os.remove(self.out)
        counts = re.search(r"(\d+) packets transmitted, (\d+) received", ping_out)
        if not counts:
            raise AssertionError(f"no ping summary: {ping_out} {ping_err}")
        sent, received = int(counts.group(1)), int(counts.group(2))
        report["ping"] = {"sent": sent, "received": received, "lost": sent - received}
        report["seconds"] = time.monotonic() - self.started
        return report


def _summary(report):
    streams = report["streams"]
    broken = [s for s in streams if s["broken"]]
    ping = report["ping"]
    return (f"{len(streams)} streams, {sum(s['answered'] for s in streams)} requests answered, {len(broken)} broken, "
            f"longest gap {max(s['longest_gap'] for s in streams):.2f} s; ping {ping['sent']} sent, "
            f"{ping['lost']} lost over {report['seconds']:.0f} s")


def _assert_streams_lived(report):
    broken = [s for s in report["streams"] if s["broken"]]
    if broken:
        raise AssertionError(f"connections broke: {json.dumps(broken)}; {_summary(report)}")
    if any(s["answered"] < 20 for s in report["streams"]):
        raise AssertionError(f"a stream barely ran: {_summary(report)}")


# ---- the DaemonSet --------------------------------------------------------------------------------

def _container_id(pod):
    statuses = pod["status"].get("containerStatuses") or [{}]
    return statuses[0].get("containerID")


def weft_pods(cluster):
    return {p["spec"]["nodeName"]: p for p in pods(cluster, "kube-system", "app=weft")}


def _wait_weft_ready(cluster, replaced=None, timeout=180):
    """Every node's weftd ready; `replaced`: {node: old pod uid} that must have been replaced."""
    replaced = replaced or {}

    def ready():
        current = weft_pods(cluster)
        if set(current) != {n.name for n in cluster.nodes}:
            return None
        for name, pod in current.items():
            if not running_ready(pod) or pod["metadata"]["uid"] == replaced.get(name):
                return None
        return current
    return wait_until(ready, timeout, interval=1, what="weftd ready on every node")


# ---- the tests ------------------------------------------------------------------------------------

def test_cross_node(cluster, state):
    """Every pod reaches every other pod across nodes over TCP and UDP, every node reaches the other
    nodes' pods, a Service's three endpoints on three nodes all answer, and every node has a vxlan
    route, neighbour and FDB entry for each other node, exactly one each."""
    by_node = _place(cluster, cluster.nodes)
    state["pods"] = by_node
    apply(cluster, SERVICE)
    pairs = 0
    for source_node, source in by_node.items():
        for target_node, target in by_node.items():
            if source_node == target_node:
                continue
            name = target["metadata"]["name"]
            ip = target["status"]["podIP"]
            retry(lambda: _expect(_http(cluster, source, f"http://{ip}:8080/hostname"), name),
                    f"{source_node} pod -> {target_node} pod TCP")
            retry(lambda: _expect(_udp(cluster, source, ip), name), f"{source_node} pod -> {target_node} pod UDP")
            node = cluster.node(source_node)
            retry(lambda: _expect(node.in_node("curl", "-sS", "-m", "3", f"http://{ip}:8080/hostname",
                                                 mount=False).stdout.strip(), name),
                    f"node {source_node} -> {target_node} pod")
            pairs += 1
    service = cluster.kubectl_json("get", "service", "-n", NS, "multi")["spec"]["clusterIP"]
    source = by_node[cluster.first.name]
    wanted = {p["metadata"]["name"] for p in by_node.values()}
    seen = set()
    for _ in range(40):
        seen.add(retry(lambda: _expect_in(_http(cluster, source, f"http://{service}/hostname"), wanted),
                         "pod -> Service"))
        if seen == wanted:
            break
    assert seen == wanted, f"Service {service} reached {sorted(seen)} of {sorted(wanted)}"
    cidrs = {node.name: _pod_cidr(cluster, node) for node in cluster.nodes}
    for node in cluster.nodes:
        for peer in cluster.nodes:
            if peer is node:
                continue
            entries = _peer_entries(cluster, node, peer, cidrs[peer.name])
            assert entries["route"] and entries["neighbours"] == 1 and entries["fdb"] == 1, \
                f"{node.name} for {peer.name} ({cidrs[peer.name]}): {entries}"
    mtu = re.search(r"mtu (\d+)", cluster.first.in_node("ip", "link", "show", VXLAN, mount=False).stdout)
    return (f"{pairs} pod->pod pairs over TCP and UDP and {pairs} node->pod paths across nodes; Service with "
            f"endpoints on {len(wanted)} nodes: all answered; each node: one route, neighbour and FDB entry per peer "
            f"({VXLAN}, mtu {mtu.group(1) if mtu else '?'}); podCIDRs {cidrs}")


ACROSS_SERVICE = f"""apiVersion: v1
kind: Service
metadata:
  name: across
  namespace: {NS}
spec:
  selector: {{app: multi, across: endpoint}}
  ports:
  - {{name: http, port: 80, targetPort: 8080, protocol: TCP}}
  - {{name: udp, port: 81, targetPort: 8081, protocol: UDP}}
"""


def _fresh_connections(netns, address, tcp_port, udp_port, count):
    """fresh_connections.py in the network namespace `netns` (a path): its report."""
    result = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-B", os.path.join(HERE, "fresh_connections.py"),
                             "--address", address, "--tcp-port", str(tcp_port), "--udp-port", str(udp_port),
                             "--count", str(count), "--timeout", str(FRESH_BOUND)],
                            capture_output=True, text=True, timeout=count * 2 * FRESH_BOUND + 30)
    if result.returncode != 0:
        raise AssertionError(f"fresh_connections.py failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def _fresh_verdict(what, report, wanted):
    """Every probe answered by `wanted` within FRESH_BOUND; returns (failures, seconds of every probe)."""
    failures, seconds = [], []
    for protocol in ("tcp", "udp"):
        for number, probe in enumerate(report[protocol]):
            seconds.append(probe["seconds"])
            if "error" in probe or probe.get("answer") != wanted or probe["seconds"] > FRESH_BOUND:
                failures.append(f"{what} {protocol} #{number + 1}: {probe}")
    return failures, seconds


def _udp_checksum_errors(node):
    """The kernel's UDP InCsumErrors in the node's namespace: "UDP: bad checksum", the dropped packets of
    flannel#1282."""
    lines = [line.split() for line in node.in_node("cat", "/proc/net/snmp", mount=False).stdout.splitlines()
             if line.startswith("Udp:")]
    if len(lines) != 2 or "InCsumErrors" not in lines[0]:
        raise AssertionError(f"no Udp InCsumErrors in {node.name}'s /proc/net/snmp: {lines}")
    return int(lines[1][lines[0].index("InCsumErrors")])


def _tx_checksum(node):
    """tx-checksum-ip-generic of the node's vxlan device, as `ethtool -k` names it (scripts/netdev-features.py:
    these machines have no ethtool)."""
    result = node.in_node(sys.executable, "-B", os.path.join(REPO, "scripts", "netdev-features.py"), VXLAN,
                          "tx-checksum-ip-generic", mount=False)
    if result.returncode != 0:
        raise AssertionError(f"{node.name} {VXLAN}: {result.stderr.strip()}")
    return result.stdout.split(":", 1)[1].strip()


def test_service_across_nodes(cluster, state):
    """flannel#1282: with the vxlan device's tx checksum offloaded, kube-proxy before 1.19 masqueraded the
    vxlan packets themselves (the Service traffic's 0x4000 mark stayed on them) and kernels before 5.7 left
    their UDP checksum wrong: the other node dropped them ("UDP: bad checksum") and every new connection
    to a ClusterIP whose endpoint was on another node waited out SYN retransmits, 63 s. weftd turns the
    offload off where the kernel needs it (--vxlan-tx-checksum-offload auto). A Service whose only
    endpoint is node 2's pod; from node 1's own network namespace (kube-proxy masquerades that traffic,
    --cluster-cidr: the original trigger) and from node 1's pod (not masqueraded), FRESH_COUNT new TCP
    connections with an HTTP request and FRESH_COUNT new UDP requests, each answered by that pod within
    FRESH_BOUND seconds. The bound is functional, not a performance claim: a lost SYN is retransmitted
    after 1 s, then 3 s, 7 s… after the first, so 3 s tells "answered" from the 1+2+4… s pattern of
    dropped packets on a loaded machine. Control: the same clients reach the pod's own address. Also
    no UDP checksum error on either node, and each node's offload state is what auto gives this kernel."""
    node1, node2 = cluster.first, cluster.nodes[1]
    endpoint = state["pods"][node2.name]
    source = state["pods"][node1.name]
    name = endpoint["metadata"]["name"]
    release = os.uname().release
    version = re.match(r"(\d+)\.(\d+)", release)
    wanted_offload = "on" if version and (int(version.group(1)), int(version.group(2))) >= (5, 7) else "off"
    offload = {node.name: _tx_checksum(node) for node in cluster.nodes}
    wrong = {node: state for node, state in offload.items() if state != wanted_offload}
    assert not wrong, f"{VXLAN} tx-checksum-ip-generic {offload}; auto on kernel {release} wants {wanted_offload}"
    log = cluster.kubectl("logs", "-n", "kube-system", weft_pods(cluster)[node1.name]["metadata"]["name"], "-c", "weftd",
                          check=False).stdout
    decision = [line for line in log.splitlines() if "vxlan tx checksum offload" in line]
    assert len(decision) == 1, f"weftd on {node1.name} logged its offload decision {len(decision)} times: {decision}"

    cluster.kubectl("label", "pod", "-n", NS, name, "across=endpoint", "--overwrite")
    apply(cluster, ACROSS_SERVICE)
    try:
        service = cluster.kubectl_json("get", "service", "-n", NS, "across")["spec"]["clusterIP"]
        pod_ip = endpoint["status"]["podIP"]
        pod_net = f"/proc/{pod_pid(node1, source['metadata']['uid'])}/ns/net"
        clients = {f"{node1.name} host": node1.node_net, f"{node1.name} pod": pod_net}
        errors_before = {node.name: _udp_checksum_errors(node) for node in (node1, node2)}

        def ready(netns):
            """kube-proxy has the Service on node 1: one request through it answered (any time). True, as
            retry waits for a true value."""
            report = _fresh_connections(netns, service, 80, 81, 1)
            failures, _ = _fresh_verdict("ready", report, name)
            if failures:
                raise AssertionError("; ".join(failures))
            return True
        for client, netns in clients.items():
            retry(lambda: ready(netns), f"{client} -> Service {service} (kube-proxy synced)")

        failures, lines = [], []
        for client, netns in clients.items():
            control = _fresh_connections(netns, pod_ip, 8080, 8081, 3)
            failures += _fresh_verdict(f"{client} -> pod {pod_ip} (control)", control, name)[0]
            report = _fresh_connections(netns, service, 80, 81, FRESH_COUNT)
            failed, seconds = _fresh_verdict(f"{client} -> Service {service}", report, name)
            failures += failed
            connects = [p["connect"] for p in report["tcp"] if "connect" in p]
            lines.append(f"{client}: {len(seconds) - len(failed)}/{len(seconds)} answered, TCP connect max "
                         f"{max(connects, default=0) * 1000:.1f} ms median {statistics.median(connects or [0]) * 1000:.1f} ms, "
                         f"request max {max(seconds) * 1000:.1f} ms median {statistics.median(seconds) * 1000:.1f} ms, "
                         f"server saw {report['clientip']}")
        errors = {node.name: _udp_checksum_errors(node) - errors_before[node.name] for node in (node1, node2)}
        assert not failures, f"{len(failures)} probes failed or took over {FRESH_BOUND} s: " + "; ".join(failures[:10])
        assert not any(errors.values()), f"UDP checksum errors during the probes: {errors}"
    finally:
        cluster.kubectl("delete", "service", "-n", NS, "across", "--wait=false", check=False)
        cluster.kubectl("label", "pod", "-n", NS, name, "across-", check=False)
    return (f"Service {service} -> {name} on {node2.name} only; {FRESH_COUNT} fresh TCP+HTTP and {FRESH_COUNT} UDP "
            f"each within {FRESH_BOUND:.0f} s; " + "; ".join(lines) + f"; UDP InCsumErrors +{errors}; "
            f"{VXLAN} tx-checksum-ip-generic {offload} (kernel {release}, weftd logged: {decision[0].split(' weftd: ', 1)[-1][:300]})")


def _expect_in(got, wanted):
    if got not in wanted:
        raise AssertionError(f"answered {got!r}, not one of {sorted(wanted)}")
    return got


def _traffic(cluster, state):
    by_node = state["pods"]
    source = by_node[cluster.first.name]
    targets = [pod for name, pod in by_node.items() if name != cluster.first.name]
    return Traffic(cluster, source, targets)


def test_weftd_restart(cluster, state):
    """weftd on node 2 restarted (its pod deleted; the DaemonSet makes a new one) while streams from
    node 1 cross to nodes 2 and 3 and a 10 ms ping goes to node 2's pod: no connection breaks, no ping
    is lost."""
    node2 = cluster.nodes[1].name
    old = weft_pods(cluster)[node2]
    traffic = _traffic(cluster, state)
    time.sleep(3)
    t = time.monotonic()
    cluster.kubectl("delete", "pod", "-n", "kube-system", old["metadata"]["name"], "--wait=false")
    _wait_weft_ready(cluster, replaced={node2: old["metadata"]["uid"]})
    restarted = time.monotonic() - t
    time.sleep(5)
    report = traffic.stop()
    _assert_streams_lived(report)
    assert report["ping"]["lost"] == 0, f"pings lost: {_summary(report)}"
    return f"weftd on {node2} replaced and ready in {restarted:.1f} s; {_summary(report)}"


def _next_image(cluster):
    """A new Weft image for the rolling update: the build's binaries with /opt/weft/RELEASE added, so a
    different image (layer, config, digest) under its own tag, imported on every node as a release
    would be pulled. Returns (ref, the release note)."""
    images = cluster.ctr("images", "ls", "-q").stdout.split()
    tagged = sorted(i for i in images if i.startswith("localhost/weft:") and not i.endswith(":latest"))
    assert tagged, f"no versioned Weft image on the node: {images}"
    ref = f"{tagged[0]}-next"
    note = f"{ref}: the e2e rolling update's image"
    archive = os.path.join(cluster.dir, "weft-next.tar")
    import images as image_builder
    image_builder.weft_image(archive, tagged[0].split(":", 1)[1], os.path.join(REPO, ".build", "release"),
                             refs=[ref], release_note=note + "\n")
    for node in cluster.nodes:
        node.import_image(archive)
    # A machine that joins later gets it too, as it would pull it (the join test follows).
    cluster.images.append(archive)
    return ref, note


def test_rollout(cluster, state):
    """The DaemonSet rolled to a new image (the same binaries with a release note added: another
    layer, config and digest, imported on every node) under the same traffic: every node's weftd and
    install container replaced one node at a time, each running the new image; no connection breaks;
    ping loss is reported."""
    ref, note = _next_image(cluster)
    before = {name: pod["metadata"]["uid"] for name, pod in weft_pods(cluster).items()}
    old_images = {pod["status"]["containerStatuses"][0]["imageID"] for pod in weft_pods(cluster).values()}
    traffic = _traffic(cluster, state)
    time.sleep(3)
    t = time.monotonic()
    cluster.kubectl("set", "image", "-n", "kube-system", "daemonset/weft", f"weftd={ref}", f"install={ref}")
    cluster.kubectl("rollout", "status", "-n", "kube-system", "daemonset/weft", "--timeout=300s", timeout=330)
    _wait_weft_ready(cluster, replaced=before)
    rolled = time.monotonic() - t
    time.sleep(5)
    report = traffic.stop()
    _assert_streams_lived(report)
    current = weft_pods(cluster)
    new_images = {pod["status"]["containerStatuses"][0]["imageID"] for pod in current.values()}
    assert len(new_images) == 1 and not new_images & old_images, f"image IDs before {old_images}, after {new_images}"
    for name, pod in current.items():
        # The new image's own file, read from the running weftd container of each node.
        release = exec_in(cluster, "kube-system", pod["metadata"]["name"], "cat", "/opt/weft/RELEASE").strip()
        assert release == note, f"{name}'s weftd runs an image without the new release note: {release!r}"
    return (f"rolled to {ref} (a new image: {sorted(old_images)[0][-64:][:12]}… → {sorted(new_images)[0][-64:][:12]}…, "
            f"its release note read in every node's weftd) on {len(before)} nodes in {rolled:.1f} s; {_summary(report)}")


def _pod_events(cluster, name):
    """The summed counts of the kubelet events about pod NAME (in NS), by reason."""
    counts = {}
    for event in cluster.kubectl_json("get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name}")["items"]:
        counts[event.get("reason", "")] = counts.get(event.get("reason", ""), 0) + event.get("count", 1)
    return counts


def test_node_reboot(cluster, state):
    """Node 2 rebooted (its namespace's links, routes and nft tables gone, /run emptied, containerd and
    kubelet restarted): its pod runs again with working cross-node traffic both ways, and nodes 1 and 3
    still hold exactly one route, neighbour and FDB entry for it. No sandbox of it failed to start on the
    way: the conflist on disk is a link into /run (--cni-conf-volatile), dangling until weftd has the
    node's subnet again, so kubelet waits for the network instead of ADDs failing on a missing
    subnet.env."""
    node2 = cluster.nodes[1]
    cidr = _pod_cidr(cluster, node2)
    name = _pod_name(node2)
    before = {"pod": _container_id(state["pods"][node2.name]), "weftd": _container_id(weft_pods(cluster)[node2.name])}
    events_before = _pod_events(cluster, name)
    t = time.monotonic()
    node2.simulate_reboot()
    node2.start_containerd()
    node2.start_kubelet()
    node2.start_kube_proxy()

    def back():
        """Both pods running again in new containers (the API still shows the old ones for a while)."""
        weftd = weft_pods(cluster).get(node2.name)
        pod = next((p for p in pods(cluster, NS, "app=multi") if p["metadata"]["name"] == name), None)
        if weftd and pod and running_ready(weftd) and running_ready(pod) and \
                _container_id(weftd) != before["weftd"] and _container_id(pod) != before["pod"]:
            return pod
        return None
    pod = wait_until(back, 240, interval=1, what=f"{name} and weftd running again on {node2.name}")
    state["pods"][node2.name] = pod
    back_after = time.monotonic() - t
    ip = pod["status"]["podIP"]
    for source_name, source in state["pods"].items():
        if source_name == node2.name:
            continue
        retry(lambda: _expect(_http(cluster, source, f"http://{ip}:8080/hostname"), name),
                f"{source_name} pod -> rebooted {node2.name} pod", timeout=60)
        target = source
        retry(lambda: _expect(_http(cluster, pod, f"http://{target['status']['podIP']}:8080/hostname"),
                                target["metadata"]["name"]), f"rebooted {node2.name} pod -> {source_name} pod")
    assert _pod_cidr(cluster, node2) == cidr, "the rebooted node's podCIDR changed"
    # Positive control: the rebooted kubelet's events about this pod are seen (it re-creates the sandbox).
    events = retry(lambda: _expect_more(_pod_events(cluster, name), events_before, "SandboxChanged"),
                   f"kubelet's SandboxChanged event for {name} after the reboot", timeout=30)
    failed = events.get("FailedCreatePodSandBox", 0) - events_before.get("FailedCreatePodSandBox", 0)
    assert failed == 0, f"{failed} failed sandbox creation(s) for {name} after the reboot: {events}"
    for node in cluster.nodes:
        if node is node2:
            continue
        entries = _peer_entries(cluster, node, node2, cidr)
        assert entries["route"] and entries["neighbours"] == 1 and entries["fdb"] == 1, \
            f"{node.name} for the rebooted {node2.name}: {entries}"
    return (f"{node2.name} rebooted: weftd and its pod running again in new containers {back_after:.1f} s after the "
            f"reboot, cross-node traffic both ways, no sandbox failed to start (SandboxChanged "
            f"{events['SandboxChanged'] - events_before.get('SandboxChanged', 0)}, FailedCreatePodSandBox 0); "
            f"nodes 1 and 3 hold one route, neighbour and FDB entry for it")


def _expect_more(counts, before, reason):
    """COUNTS when REASON rose above BEFORE's count; raises otherwise (for retry)."""
    if counts.get(reason, 0) <= before.get(reason, 0):
        raise AssertionError(f"no new {reason} event yet: {counts}")
    return counts


def test_node_loss(cluster, state):
    """Node 3 lost: its kubelet, containerd, kube-proxy and pods (weftd among them) killed, its Node
    deleted. Nodes 1 and 2 drop its route, neighbour and FDB entry within LOSS_BOUND seconds, while
    they keep each other's (the positive control)."""
    node3 = cluster.nodes[2]
    cidr = _pod_cidr(cluster, node3)
    others = [n for n in cluster.nodes if n is not node3]
    for node in others:
        entries = _peer_entries(cluster, node, node3, cidr)
        assert entries["route"] and entries["neighbours"] == 1 and entries["fdb"] == 1, f"{node.name}: {entries}"
    node3.stop_node_side()
    t = time.monotonic()
    cluster.kubectl("delete", "node", node3.name)

    def forgotten():
        return all(_peer_entries(cluster, node, node3, cidr) == {"route": None, "neighbours": 0, "fdb": 0}
                   for node in others)
    try:
        wait_until(forgotten, LOSS_BOUND, interval=0.2, what=f"{node3.name}'s fabric entries gone")
    except TimeoutError:
        raise AssertionError(f"after {LOSS_BOUND} s: " + json.dumps(
            {n.name: _peer_entries(cluster, n, node3, cidr) for n in others}))
    gone = time.monotonic() - t
    a, b = others
    control = _peer_entries(cluster, a, b, _pod_cidr(cluster, b))
    assert control["route"] and control["neighbours"] == 1 and control["fdb"] == 1, f"{a.name} for {b.name}: {control}"
    state["pods"].pop(node3.name, None)
    state["loss"] = gone
    return f"{node3.name}'s route, neighbour and FDB entry gone from {[n.name for n in others]} {gone:.2f} s after its Node was deleted"


def test_node_join(cluster, state):
    """Node 3 joins again as a new machine (new namespaces, empty disks: no conflist, no binaries, no
    images but the ones a provisioned node has): from its start to its Node object, to Ready, to a pod
    on it answering pods on nodes 1 and 2 and answering them back."""
    node3 = cluster.nodes[2]
    # The pods bound to the deleted Node: removed as an operator would (the pod garbage collector takes
    # up to a minute), so the new pod's name is free.
    for pod in pods(cluster, NS, "app=multi"):
        if pod["spec"].get("nodeName") == node3.name:
            cluster.kubectl("delete", "pod", "-n", NS, pod["metadata"]["name"], "--force", "--grace-period=0",
                            check=False)
    wait_until(lambda: not any(p["spec"].get("nodeName") == node3.name for p in pods(cluster, NS, "app=multi")),
               120, interval=1, what=f"the pods of the deleted {node3.name} gone")
    t = time.monotonic()
    node3.replace()    # a new machine: empty disks and namespaces, the images imported, kubelet started
    wait_until(lambda: cluster.kubectl("get", "node", node3.name, check=False).returncode == 0, 90, interval=0.2,
               what=f"the Node {node3.name}")
    registered = time.monotonic() - t
    cluster.wait_node_ready(nodes=[node3])
    ready = time.monotonic() - t
    _wait_weft_ready(cluster)
    pod = _place(cluster, [node3])[node3.name]
    ip = pod["status"]["podIP"]
    for source_name, source in state["pods"].items():
        retry(lambda: _expect(_http(cluster, source, f"http://{ip}:8080/hostname"), pod["metadata"]["name"]),
                f"{source_name} pod -> joined {node3.name} pod", timeout=60)
        retry(lambda: _expect(_http(cluster, pod, f"http://{source['status']['podIP']}:8080/hostname"),
                                source["metadata"]["name"]), f"joined {node3.name} pod -> {source_name} pod")
    reachable = time.monotonic() - t
    state["pods"][node3.name] = pod
    return (f"{node3.name} joined: Node object {registered:.1f} s after the machine started, Ready at {ready:.1f} s, "
            f"its pod reachable from and reaching every node at {reachable:.1f} s (podCIDR {_pod_cidr(cluster, node3)})")


def test_host_gw(cluster):
    """With host-gw in the ConfigMap: each node routes each peer's podCIDR via the peer's underlay
    address (no vxlan device anywhere), and pods on different nodes reach each other over TCP."""
    cidrs = {node.name: _pod_cidr(cluster, node) for node in cluster.nodes}
    for node in cluster.nodes:
        links = node.in_node("ip", "-o", "link", "show", "type", "vxlan", mount=False).stdout
        assert not links.strip(), f"{node.name} has a vxlan device under host-gw: {links}"
        for peer in cluster.nodes:
            if peer is node:
                continue
            route = wait_until(lambda: node.in_node("ip", "-4", "route", "show", cidrs[peer.name], mount=False).stdout.strip(),
                               30, interval=0.5, what=f"{node.name}'s route to {peer.name}'s podCIDR")
            assert f"via {peer.ip} dev eth0" in route, f"{node.name} for {peer.name}: {route!r}"
    apply(cluster, f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    try:
        by_node = _place(cluster, cluster.nodes)
        pairs = 0
        for source_node, source in by_node.items():
            for target_node, target in by_node.items():
                if source_node != target_node:
                    ip, name = target["status"]["podIP"], target["metadata"]["name"]
                    retry(lambda: _expect(_http(cluster, source, f"http://{ip}:8080/hostname"), name),
                            f"{source_node} pod -> {target_node} pod TCP (host-gw)")
                    pairs += 1
    finally:
        delete_namespace(cluster, NS)
    return f"host-gw: every node routes each peer's podCIDR via the peer ({cidrs}); {pairs} cross-node pod pairs answered"


TESTS = [
    ("pods on three nodes reach each other over vxlan (TCP, UDP, node->pod, a Service with endpoints on every node)",
     test_cross_node),
    (f"a ClusterIP whose endpoint is on node 2 answers {FRESH_COUNT} fresh TCP and UDP requests each within "
     f"{FRESH_BOUND:.0f} s from node 1's host and pod (flannel#1282's 63 s), vxlan checksum offload as auto wants",
     test_service_across_nodes),
    ("weftd restarted on node 2 under cross-node streams and a 10 ms ping: no reset, no lost ping", test_weftd_restart),
    ("the DaemonSet rolled to a new image under cross-node streams: no reset", test_rollout),
    ("node 2 rebooted: its pod back with cross-node traffic, nothing duplicated on the others", test_node_reboot),
    (f"node 3 lost (Node deleted): its routes, neighbours and FDB entries gone from the others within {LOSS_BOUND:.0f} s",
     test_node_loss),
    ("node 3 joins as a new machine: Node to Ready to reachable from every node, timed", test_node_join),
]


def run_all(cluster, results):
    state = {}
    cluster.uncordon(*[n.name for n in cluster.nodes[1:]])
    apply(cluster, f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    try:
        for name, function in TESTS:
            say(f"multinode: {name}")
            if not results.run("multinode", name, function, cluster, state) and function is test_cross_node:
                for later, _ in TESTS[1:]:
                    results.add("multinode", later, "SKIP", 0, "the nodes are not connected (see above)")
                break
    finally:
        delete_namespace(cluster, NS)
