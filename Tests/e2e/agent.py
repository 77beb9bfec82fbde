"""weftd's kube backend against cluster A's real API server (flanneld --kube-subnet-mgr's contract).

weftd runs on the node as a process of its own (in the node's namespaces, stopped by its PID) with the
admin kubeconfig and host-gw. Two more Nodes are created through the API with no podCIDR:
kube-controller-manager allocates theirs, as it would for joining nodes, and they carry the
annotations a flanneld or weftd on them would publish. Checked: subnet.env from this Node's podCIDR,
this Node annotated with flannel's keys, a route to each peer's podCIDR via its public IP, a peer
deleted → its route gone, a peer added later → its route appears (the watch, not a re-list), and
SIGTERM leaves the routes in place.
"""

import json
import os
import signal
import time

from harness import NODE_NAME, say
from cluster import wait_until

PEERS = {"weft-peer-2": "192.0.2.12", "weft-peer-3": "192.0.2.13", "weft-peer-4": "192.0.2.14"}
ANNOTATION = "flannel.alpha.coreos.com/"


def peer_manifest(name, public_ip):
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": {
        ANNOTATION + "backend-type": "host-gw", ANNOTATION + "backend-data": "null",
        ANNOTATION + "public-ip": public_ip, ANNOTATION + "kube-subnet-manager": "true"}}})


def pod_cidr(cluster, name, timeout=30):
    def allocated():
        return cluster.kubectl_json("get", "node", name)["spec"].get("podCIDR")
    wait_until(allocated, timeout, interval=0.5, what=f"a podCIDR for {name}")
    return allocated()


def route(cluster, cidr):
    return cluster.in_node("ip", "route", "show", cidr, mount=False).stdout.strip()


def test_kube_backend(cluster, results, weftd):
    net_conf = cluster.path("weftd-net-conf.json")
    with open(net_conf, "w") as f:
        json.dump({"Network": "10.244.0.0/16", "Backend": {"Type": "host-gw"}}, f)
    subnet_file = cluster.path("weftd-subnet.env")
    created, cidrs = [], {}
    try:
        for name in ("weft-peer-2", "weft-peer-3"):
            cluster.kubectl("apply", "-f", "-", input=peer_manifest(name, PEERS[name]))
            created.append(name)
        cidrs.update({name: pod_cidr(cluster, name) for name in created})
        t = time.monotonic()
        cluster.start("weftd", [weftd, "--backend", "kube", "--kubeconfig", cluster.kubeconfig, "--node-name", NODE_NAME,
                                "--net-conf", net_conf, "--subnet-file", subnet_file, "--iface", "eth0",
                                "--state-file", cluster.path("weftd-state.json"), "--metrics-address", "off"])
        wait_until(lambda: all(PEERS[n] in route(cluster, c) for n, c in cidrs.items()), 30, interval=0.1,
                   what="routes to the peers' podCIDRs")
        connected = time.monotonic() - t
        own = cluster.kubectl_json("get", "node", NODE_NAME)
        with open(subnet_file) as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line)
        first = own["spec"]["podCIDR"].replace(".0/", ".1/")
        assert env.get("FLANNEL_SUBNET") == first, f"subnet.env {env} for podCIDR {own['spec']['podCIDR']}"
        assert env.get("FLANNEL_NETWORK") == "10.244.0.0/16", env
        notes = own["metadata"].get("annotations", {})
        assert notes.get(ANNOTATION + "backend-type") == "host-gw", notes
        assert notes.get(ANNOTATION + "public-ip") == "192.0.2.1", notes
        assert notes.get(ANNOTATION + "kube-subnet-manager") == "true", notes

        t = time.monotonic()
        cluster.kubectl("delete", "node", "weft-peer-3")
        created.remove("weft-peer-3")
        wait_until(lambda: not route(cluster, cidrs["weft-peer-3"]), 20, interval=0.1, what="weft-peer-3's route to go")
        forgotten = time.monotonic() - t
        assert PEERS["weft-peer-2"] in route(cluster, cidrs["weft-peer-2"]), "weft-peer-2's route went too"

        t = time.monotonic()
        cluster.kubectl("apply", "-f", "-", input=peer_manifest("weft-peer-4", PEERS["weft-peer-4"]))
        created.append("weft-peer-4")
        late = cidrs["weft-peer-4"] = pod_cidr(cluster, "weft-peer-4")
        wait_until(lambda: PEERS["weft-peer-4"] in route(cluster, late), 20, interval=0.1, what="weft-peer-4's route")
        joined = time.monotonic() - t

        cluster.stop("weftd", sig=signal.SIGTERM)
        kept = route(cluster, cidrs["weft-peer-2"])
        assert PEERS["weft-peer-2"] in kept, f"routes removed on SIGTERM: {kept!r}"
        say(f"  weftd kube: connected {connected:.2f} s, deleted peer forgotten {forgotten:.2f} s, joined {joined:.2f} s")
        return (f"subnet.env {env['FLANNEL_SUBNET']} from podCIDR {own['spec']['podCIDR']}; annotations published; "
                f"start → routes to 2 peers {connected:.2f} s; Node deleted → route gone {forgotten:.2f} s; "
                f"Node created → podCIDR {late} routed {joined:.2f} s; SIGTERM left the routes")
    finally:
        if cluster.alive("weftd"):
            cluster.stop("weftd", sig=signal.SIGKILL)
        for name in created:
            cluster.kubectl("delete", "node", name, "--ignore-not-found", check=False)
        for cidr in cidrs.values():
            cluster.in_node("ip", "route", "del", cidr, mount=False)
        for path in (subnet_file, net_conf):
            if os.path.exists(path):
                os.remove(path)
