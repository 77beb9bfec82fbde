"""Dual-stack on host-gw (cluster B, part hostgw): IPv6 across the nodes as weftd routes it.

Each node routes each peer's IPv6 podCIDR via the peer's IPv6 underlay address on eth0 (flannel's
host-gw for IPv6, from the peer's public-ipv6 annotation), and the pods on every pair of nodes (one
pinned to each) reach each other over IPv6 (HTTP to agnhost netexec), the server seeing the client's
own pod address. The same pair over IPv4 first is the control: when it answers and IPv6 does not, the
fault is IPv6's.
"""

import ipaddress
import time

from harness import apply, delete_namespace, exec_in, pinned_netexec_pod, pods, retry, running_ready
from cluster import UPLINK, wait_until

NS = "dualstack"


def pod_cidrs(cluster, node):
    """(IPv4, IPv6) podCIDRs of a Node (spec.podCIDRs, one of each family on a dual-stack cluster)."""
    cidrs = [ipaddress.ip_network(c) for c in cluster.kubectl_json("get", "node", node.name)["spec"].get("podCIDRs", [])]
    v4 = [c for c in cidrs if c.version == 4]
    v6 = [c for c in cidrs if c.version == 6]
    assert len(v4) == 1 and len(v6) == 1, f"{node.name}: podCIDRs {cidrs}, want one of each family"
    return v4[0], v6[0]


def pod_addresses(pod):
    """(IPv4, IPv6) of a pod from status.podIPs."""
    ips = [ipaddress.ip_address(entry["ip"]) for entry in pod["status"].get("podIPs") or []]
    v4 = [a for a in ips if a.version == 4]
    v6 = [a for a in ips if a.version == 6]
    assert len(v4) == 1 and len(v6) == 1, f"{pod['metadata']['name']}: podIPs {ips}, want one of each family"
    return v4[0], v6[0]


def url(address, path):
    """http://ADDRESS:8080/PATH, an IPv6 address bracketed."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else str(address)
    return f"http://{host}:8080/{path}"


def client_address(answer):
    """The address part of netexec's /clientip answer ("1.2.3.4:5678" or "[fd00::5]:5678")."""
    host = answer.rsplit(":", 1)[0]
    return ipaddress.ip_address(host.strip("[]"))


def _pod(name, node):
    return pinned_netexec_pod(name, NS, node, "dualstack")


def _curl(cluster, pod, target):
    return exec_in(cluster, NS, pod["metadata"]["name"], "curl", "-sS", "-g", "-m", "3", target, check=False).strip()


def test_ipv6_host_gw(cluster):
    nodes = cluster.nodes
    cidrs = {node.name: pod_cidrs(cluster, node) for node in nodes}
    for node in nodes:
        for peer in nodes:
            if peer is node:
                continue
            peer6 = str(cidrs[peer.name][1])
            route = wait_until(lambda: node.in_node("ip", "-6", "route", "show", peer6, mount=False).stdout.strip(),
                               30, interval=0.5, what=f"{node.name}'s IPv6 route to {peer.name}'s podCIDR {peer6}")
            assert f"via {peer.ip6} dev {UPLINK}" in route, f"{node.name} for {peer.name} ({peer6}): {route!r}"
    apply(cluster, f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    try:
        for node in nodes:
            apply(cluster, _pod(f"on-{node.name}", node.name))

        def ready():
            items = {p["spec"]["nodeName"]: p for p in pods(cluster, NS, "app=dualstack")}
            return items if len(items) == len(nodes) and all(running_ready(p) for p in items.values()) else None
        by_node = wait_until(ready, 180, interval=1, what=f"netexec pods on {[n.name for n in nodes]}")
        addresses = {}
        for node in nodes:
            v4, v6 = pod_addresses(by_node[node.name])
            assert v4 in cidrs[node.name][0] and v6 in cidrs[node.name][1], \
                f"{node.name}'s pod has {v4}, {v6}; the Node's podCIDRs are {cidrs[node.name]}"
            addresses[node.name] = (v4, v6)
        details = []
        for source_node, target_node in ((a, b) for a in nodes for b in nodes if a is not b):
            source, target = by_node[source_node.name], by_node[target_node.name]
            name = target["metadata"]["name"]
            (source4, source6), (target4, target6) = addresses[source_node.name], addresses[target_node.name]
            # The control: the same pods over IPv4 (both servers up, the pods' network there).
            for family, address, own in (("IPv4", target4, source4), ("IPv6", target6, source6)):
                t = time.monotonic()
                answer = retry(lambda: _expect(_curl(cluster, source, url(address, "hostname")), name),
                               f"{source_node.name} pod -> {target_node.name} pod {family} ({address})")
                seen = retry(lambda: _expect_address(_curl(cluster, source, url(address, "clientip")), own),
                             f"{target_node.name} pod sees {source_node.name} pod's own {family} address")
                details.append(f"{source_node.name}->{target_node.name} {family} {address}: {answer} "
                               f"(client {seen}, {time.monotonic() - t:.1f} s)")
    finally:
        delete_namespace(cluster, NS)
    routes = {n.name: str(cidrs[n.name][1]) + " via " + n.ip6 for n in nodes}
    return ("each node routes each peer's IPv6 podCIDR via the peer's IPv6 address on eth0 "
            f"({routes}); " + "; ".join(details))


def _expect(got, wanted):
    if got != wanted:
        raise AssertionError(f"answered {got!r}, wanted {wanted!r}")
    return got


def _expect_address(answer, wanted):
    try:
        seen = client_address(answer)
    except ValueError:
        raise AssertionError(f"/clientip answered {answer!r}")
    if seen != wanted:
        raise AssertionError(f"the server saw {seen}, not the client pod's {wanted} (translated on the way?)")
    return seen
