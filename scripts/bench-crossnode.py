#!/usr/bin/env python3
"""scripts/bench-crossnode.py (`SCENARIOS=crossnode make bench`): pod to pod across two nodes, over weftd's
vxlan and host-gw, beside pod to pod on one node and beside the node-to-node underlay itself (the floor);
and the time from a Node appearing in the API to its route on the other nodes. Prints Markdown; nothing
is asserted.

The nodes are scripts/bench-nodes.py's (the demo's): an underlay namespace with a bridge, etcd and
kube-apiserver; two node namespaces on the bridge, each with weftd as the DaemonSet runs it
(`--backend kube --network-policy`, no policy created) and pods ADDed by the plugin. Per backend the two
nodes are made afresh (Node objects, namespaces, weftd); the control plane stays.

Per backend, in rounds, each path in turn (so drift under load hits all alike):
- throughput: iperf3, one TCP stream, XNODE_SECONDS s after a 1 s warm-up (omitted), receiver's rate;
- request/response: one TCP connection, 1 byte each way with TCP_NODELAY, RR_COUNT round trips in a
  row; the round-trip time of each (median, p99) and round trips per second. Client and server are
  Python (the same on every path), so the figures carry their overhead: compare the paths, not netperf.
Paths: underlay (node-1's eth0 to node-2's), same node (pod to pod on node-1's bridge), cross-node
(pod on node-1 to pod on node-2). Ratios are against the same backend's underlay, measured in the same
rounds.

Node → route: a Node object POSTed with spec.podCIDR and flannel's annotations (backend-type, backend-data,
public-ip; what a node's weftd publishes), then node-1's and node-2's routing tables polled (their
/proc/PID/net/route, no fork) until the podCIDR's route is there; then the Node deleted and the route
waited for gone. From the POST's start.

Knobs: BACKENDS="vxlan host-gw", XNODE_ROUNDS=6, XNODE_SECONDS=2, RR_COUNT=5000, ROUTE_ROUNDS=10;
WEFT_BIN, WEFTD_BIN, WEFTCTL_BIN, KUBE_BIN, ETCD_BIN as for scripts/demo.
"""
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the clone
spec = importlib.util.spec_from_file_location("bench_nodes", os.path.join(HERE, "bench-nodes.py"))
nodes_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nodes_module)
kube_lab = nodes_module.kube_lab  # scripts/kube_lab.py, which bench-nodes.py loads
setns = nodes_module.setns
netns = nodes_module.netns  # scripts/lib/netns.py, which bench-nodes.py imports
has_route = nodes_module.has_route
route_key = nodes_module.route_key

IPERF_PORT = 5201
ECHO_PORT = 7007
ECHO = """
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("listening", flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(1)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def log(message):
    print(f"[bench-crossnode {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def quantile(values, q):
    ordered = sorted(values)
    rank = max(1, int(q * len(ordered) + 0.999999))
    return ordered[min(rank, len(ordered)) - 1]


class Bench:
    def __init__(self):
        self.backends = os.environ.get("BACKENDS", "vxlan host-gw").split()
        self.rounds = env_int("XNODE_ROUNDS", 6)
        self.seconds = env_int("XNODE_SECONDS", 2)
        self.rr_count = env_int("RR_COUNT", 5000)
        self.route_rounds = env_int("ROUTE_ROUNDS", 10)
        self.c = nodes_module.Nodes("xnode", log)

    # -- servers and clients --

    def listening(self, ns, port):
        out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        return bool(out.strip())

    def servers(self, node, ns, label):
        """iperf3 and the echo server in namespace `ns` (a node's or a pod's), stopped with the node."""
        c = self.c
        c.spawn(f"{node.name}-iperf3-{label}", ["iperf3", "-s", "-p", str(IPERF_PORT)], ns=ns)
        echo = c.spawn(f"{node.name}-echo-{label}", [sys.executable, "-B", "-c", ECHO, str(ECHO_PORT)], ns=ns,
                       stdout=subprocess.PIPE)
        if echo.stdout.readline().strip() != b"listening":
            raise RuntimeError(f"the echo server in {ns} did not start")
        c.wait_until(lambda: self.listening(ns, IPERF_PORT), 20, f"iperf3 listening in {ns}")

    def iperf(self, source_ns, address):
        result = subprocess.run(netns.enter(netns.path(source_ns)) + ["iperf3", "-c", address, "-p", str(IPERF_PORT),
                                 "-t", str(self.seconds), "-O", "1", "-J"], capture_output=True, text=True, timeout=self.seconds + 60)
        data = json.loads(result.stdout or "{}")
        if result.returncode != 0 or "error" in data:
            raise RuntimeError(f"iperf3 from {source_ns} to {address}: {data.get('error', result.stderr[:300])}")
        end = data["end"]
        return end["sum_received"]["bits_per_second"] / 1e9, end["sum_sent"].get("retransmits", 0)

    def request_response(self, source_ns, address):
        """RR_COUNT 1-byte round trips on one connection made in `source_ns`: [µs]."""
        fd = os.open(netns.path(source_ns), os.O_RDONLY)
        try:
            setns(fd)
            s = socket.socket()
        finally:
            setns(self.c.underlay_fd)
            os.close(fd)
        try:
            s.settimeout(10)
            s.connect((address, ECHO_PORT))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(100):  # warm-up
                s.sendall(b"x")
                s.recv(1)
            times = []
            clock = time.perf_counter_ns
            for _ in range(self.rr_count):
                start = clock()
                s.sendall(b"x")
                if not s.recv(1):
                    raise RuntimeError(f"echo server at {address} closed the connection")
                times.append((clock() - start) / 1000)
            return times
        finally:
            s.close()

    # -- node → route --

    def node_routes(self, backend, nodes):
        """ROUTE_ROUNDS Nodes appearing and going: per round (ms to each node's route, ms to gone)."""
        api = self.c.api
        rows = []
        for i in range(self.route_rounds):
            name = f"node-x{i}"
            cidr = f"10.244.{100 + i}.0/24"
            key = route_key(cidr)
            data = json.dumps({"VNI": 1, "VtepMAC": f"0e:57:0a:4e:00:{0x63 + i:02x}"}) if backend == "vxlan" else "null"
            body = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "annotations": {
                        "flannel.alpha.coreos.com/backend-type": backend,
                        "flannel.alpha.coreos.com/backend-data": data,
                        "flannel.alpha.coreos.com/public-ip": f"10.78.0.{99 + i}",
                        "flannel.alpha.coreos.com/kube-subnet-manager": "true"}},
                    "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
            for verb in ("add", "delete"):
                pids = {node.name: node.weftd.pid for node in nodes}
                want = verb == "add"
                seen = {}
                start = time.monotonic()
                if want:
                    api.call("POST", "/api/v1/nodes", body)
                else:
                    api.call("DELETE", f"/api/v1/nodes/{name}")
                returned = time.monotonic()
                while len(seen) < len(pids):
                    for node_name, pid in pids.items():
                        if node_name not in seen and has_route(pid, cidr, key) == want:
                            seen[node_name] = (time.monotonic() - start) * 1000
                    if time.monotonic() - start > 30:
                        raise RuntimeError(f"{backend}: {name}'s route not {'there' if want else 'gone'} on "
                                           f"{sorted(set(pids) - set(seen))} after 30 s")
                    time.sleep(0.0002)
                rows.append({"verb": verb, "api": (returned - start) * 1000, **seen, "all": max(seen.values())})
                for node in nodes:  # weftd still healthy after each change
                    if node.weftd.poll() is not None:
                        raise RuntimeError(f"weftd on {node.name} exited: {self.c.tail('weftd-' + node.name)}")
        return rows

    # -- a backend --

    def backend(self, backend):
        c = self.c
        log(f"{backend}: two nodes, weftd on each")
        n1 = c.add_node(1, backend)
        n2 = c.add_node(2, backend)
        for node in (n1, n2):
            c.start_weftd(node)
        c.wait_ready([n1, n2])
        c.namespace(f"bench-{backend}")
        a = c.pod(n1, f"bench-{backend}", "a", {"app": "a"})
        b = c.pod(n1, f"bench-{backend}", "b", {"app": "b"})
        remote = c.pod(n2, f"bench-{backend}", "remote", {"app": "remote"})
        mtu = open(n1.subnet_file).read().split("FLANNEL_MTU=")[1].split()[0]
        self.servers(n2, n2.ns, "node")
        self.servers(n1, b["ns"], "b")
        self.servers(n2, remote["ns"], "remote")
        paths = [("underlay: node-1 → node-2 (eth0, the floor)", n1.ns, n2.address),
                 ("same node: pod → pod on node-1's bridge", a["ns"], b["address"]),
                 (f"cross-node {backend}: pod on node-1 → pod on node-2", a["ns"], remote["address"])]
        results = {label: {"gbit": [], "retrans": [], "rr": []} for label, _, _ in paths}
        for r in range(self.rounds):
            for label, source, target in paths:
                gbit, retrans = self.iperf(source, target)
                results[label]["gbit"].append(gbit)
                results[label]["retrans"].append(retrans)
            for label, source, target in paths:
                results[label]["rr"].append(self.request_response(source, target))
            log(f"{backend}: round {r + 1}/{self.rounds}: " + ", ".join(f"{results[l]['gbit'][-1]:.2f}" for l, _, _ in paths) + " Gbit/s")
        log(f"{backend}: {self.route_rounds} Nodes appearing and going")
        routes = self.node_routes(backend, [n1, n2])
        for node in (n2, n1):
            c.stop_node(node)
        return {"paths": paths, "results": results, "routes": routes, "mtu": mtu}

    def run(self):
        started = time.monotonic()
        took = self.c.start()
        log(f"kube-apiserver ready in {took:.1f} s")
        measured = {backend: self.backend(backend) for backend in self.backends}
        self.report(measured, time.monotonic() - started)

    def report(self, measured, elapsed):
        print()
        print(f"| pod to pod across nodes ({self.rounds} rounds, each path in turn) | TCP throughput, Gbit/s (median; min–max) | "
              f"retransmits (median) | request/response RTT, µs (median / p99) | round trips/s (median) | "
              f"throughput ÷ underlay | RTT ÷ underlay |")
        print("|---|---|---|---|---|---|---|")
        ratios = {}
        for backend, m in measured.items():
            floor_gbit = floor_rtt = None
            for label, _, _ in m["paths"]:
                r = m["results"][label]
                gbit = statistics.median(r["gbit"])
                rtts = [t for run in r["rr"] for t in run]
                rtt = statistics.median(rtts)
                rate = statistics.median([len(run) / (sum(run) / 1e6) for run in r["rr"]])
                if floor_gbit is None:
                    floor_gbit, floor_rtt = gbit, rtt
                    tp_ratio = rtt_ratio = "1 (floor)"
                else:
                    tp_ratio, rtt_ratio = f"{gbit / floor_gbit:.2f}×", f"{rtt / floor_rtt:.2f}×"
                    if label.startswith("cross-node"):
                        ratios[backend] = (gbit / floor_gbit, rtt / floor_rtt)
                print(f"| {backend} run: {label} | {gbit:.2f} ({min(r['gbit']):.2f}–{max(r['gbit']):.2f}) | "
                      f"{statistics.median(r['retrans']):.0f} | {rtt:.0f} / {quantile(rtts, 0.99):.0f} | {rate:.0f} | {tp_ratio} | {rtt_ratio} |")
        print(f"(iperf3 one stream, {self.seconds} s after 1 s omitted; request/response: {self.rr_count} round trips of 1 byte per "
              f"round on one connection, Python at both ends; pod MTU "
              + ", ".join(f"{b} {m['mtu']}" for b, m in measured.items()) + "; underlay MTU 1500)")
        if ratios:
            print("Cross-node pod to pod against the underlay: " + "; ".join(
                f"{b} {t:.2f}× the throughput, {l:.2f}× the round trip" for b, (t, l) in ratios.items()) + ".")
        print()
        print(f"| Node → route on the other nodes, {self.route_rounds} Nodes (ms from the API call's start: median / p90 / max) | "
              f"API call | route on node-1 | route on node-2 | on both | on both, after the call returned |")
        print("|---|---|---|---|---|---|")
        for backend, m in measured.items():
            for verb, words in (("add", "Node created (podCIDR + annotations) → route there"), ("delete", "Node deleted → route gone")):
                rows = [r for r in m["routes"] if r["verb"] == verb]

                for r in rows:
                    r["after"] = r["all"] - r["api"]

                def col(key):
                    values = [r[key] for r in rows]
                    return f"{statistics.median(values):.1f} / {quantile(values, 0.9):.1f} / {max(values):.1f}"
                print(f"| {backend}: {words} | {col('api')} | {col('node-1')} | {col('node-2')} | {col('all')} | {col('after')} |")
        print("(routes read from each node's /proc/PID/net/route every 0.2 ms; the Node is POSTed whole, as when the last of "
              "its podCIDR and its weftd's annotations arrives)")
        print()
        print(f"cross-node scenario took {elapsed:.0f} s; load average {open('/proc/loadavg').read().split()[0]} at its end on "
              f"{os.cpu_count()} cores")


def main():
    return kube_lab.bench_main("bench-crossnode", Bench, log, lab=lambda bench: bench.c)


if __name__ == "__main__":
    sys.exit(main())
