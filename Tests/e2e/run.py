#!/usr/bin/env python3
"""`make e2e`: Weft under a real kubelet.

1. The images the cluster needs (pause, agnhost, busybox), built offline into the Kubernetes cache.
2. Cluster A (three nodes, podCIDRs /24, kube-proxy serving Services): Weft installed only by
   `kubectl apply -f deploy/weft.yaml`; every node must be NotReady before and Ready after. Smoke tests
   (nodes 2 and 3 cordoned: their pods stay on node 1), then the multi-node part (multinode.py:
   cross-node traffic over weftd's vxlan and the disruptions), then Kubernetes' own e2e on all three
   nodes (kube_e2e.SETS but NetworkPolicy's, CLUSTER_B_BY_DEFAULT), then NetworkPolicy from a pod's
   first packet on node 1 (policy.py).
3. Cluster B (three dual-stack nodes without kube-proxy: cluster and service CIDRs of both families,
   podCIDRs /26 and /64; host-gw, IPv6 and Services in the DaemonSet's ConfigMap, host_gw_manifest, so
   weftd --services serves every Service): installed as cluster A is, subnet.env holding both
   podCIDRs; the direct routes of both families with pods reaching each other over each
   (multinode.test_host_gw, dualstack.py), then Kubernetes' sets on them (HOSTGW_SETS: the granular
   checks, Services, hostPort, the NetworkPolicy suite and the dual-stack specs, the Granular Checks
   of the secondary IP family among them) (part hostgw), then leak recovery on node 1 (leak.py; every
   pod holds an address of each family). The sets both clusters ran are compared side by side at the
   end (side_by_side): kube-proxy's and weftd's.
Each cluster is torn down and checked to leave nothing behind. Results: OUT/results.txt; the exit
status is 1 if any check failed.

Under CI (CI=true) the run is the whole one: --parts other than every part, any --sets or --focus is
refused before anything starts (refuse_narrowing).
"""

import argparse
import hashlib
import ipaddress
import json
import os
import re
import sys
import time
import traceback

from harness import NODE_NAME, REPO, Results
import dualstack
import kube_e2e
import leak
import multinode
import policy
import smoke

sys.path.insert(0, os.path.join(REPO, "scripts", "k8s"))
import images  # noqa: E402
from cluster import CLUSTER_CIDR6, NODE_IP, Cluster, default_paths, run, wait_until  # noqa: E402


PARTS = ["smoke", "multinode", "k8s", "policy", "hostgw", "leak"]
NODES = 3   # cluster A
# Cluster B's Kubernetes e2e sets (part hostgw), on its direct routes with weftd serving Services (no
# kube-proxy); dualstack needs its IPv6 half.
HOSTGW_SETS = ("granular", "services", "hostport", "netpol", "dualstack")
CLUSTER_B_ONLY = {"dualstack"}
# The default sets cluster A (kube-proxy) leaves to cluster B unless E2E_SETS names them: the
# NetworkPolicy suite (about 450 s) runs once in CI, on the cluster without kube-proxy, where its
# probes go through weftd's Services too. `make e2e E2E_PARTS=k8s E2E_SETS=netpol` runs it with kube-proxy.
CLUSTER_B_BY_DEFAULT = {"netpol"}


def refuse_narrowing(environ, parts, sets, focus):
    """The reason CI must not run this narrowed run, or None. CI's verdict covers every part and every
    default set: a run narrowed by E2E_PARTS, E2E_SETS or E2E_FOCUS in CI's environment would pass on
    less than it claims."""
    if environ.get("CI", "").lower() not in ("true", "1", "yes"):
        return None
    narrowed = []
    if set(parts) != set(PARTS):
        narrowed.append(f"parts {sorted(parts)} (E2E_PARTS; all: {','.join(PARTS)})")
    if sets:
        narrowed.append(f"sets {sorted(sets)} (E2E_SETS; default: every default set)")
    if focus:
        narrowed.append(f"focus {focus!r} (E2E_FOCUS)")
    if not narrowed:
        return None
    return ("CI=true: refusing a narrowed e2e run: " + "; ".join(narrowed) +
            ". CI runs every part and every default set: unset E2E_PARTS, E2E_SETS and E2E_FOCUS "
            "(or run without CI=true to look at a part).")


def build_images(kube_bin):
    cache = os.path.dirname(kube_bin)
    out = os.path.join(cache, "images")
    archives = [os.path.join(out, name) for name in ("pause.tar", "agnhost.tar", "busybox.tar")]
    # Rebuilt when the builder changes (the stamp holds its hash), else reused from the cache.
    with open(images.__file__, "rb") as source:
        key = hashlib.sha256(source.read()).hexdigest()
    stamp = os.path.join(out, ".complete")
    try:
        with open(stamp) as f:
            current = f.read().strip() == key
    except OSError:
        current = False
    if not current or not all(os.path.exists(a) for a in archives):
        tree = os.path.join(cache, "gopath", "src", "k8s.io", "kubernetes")
        images.k8s_images(out, kube_bin, tree)
        with open(stamp, "w") as f:
            f.write(key + "\n")
    return archives


def install_check(cluster, results, manifest=None):
    """Every node is NotReady until Weft's DaemonSet has installed the plugin and its conflist there
    (`manifest`: deploy/weft.yaml, or an edited copy of it); subnet.env holds the Node's podCIDRs."""
    t = time.monotonic()
    before = {}
    for node in cluster.nodes:
        conditions = cluster.kubectl_json("get", "node", node.name)["status"]["conditions"]
        before[node.name] = next((c for c in conditions if c["type"] == "Ready"), {})
        assert before[node.name].get("status") != "True", f"{node.name} Ready before Weft was installed: {before}"
        conf_dir = node.path("cni-net.d")
        assert not os.listdir(conf_dir), f"{node.name}'s CNI conf dir not empty before install: {os.listdir(conf_dir)}"
    if manifest:
        cluster.install_weft(manifest=manifest)
    else:
        cluster.install_weft()
    for node in cluster.nodes:
        installed = sorted(os.listdir(node.path("cni-bin")))
        for name in ("weft", "weft-ipam", "weftctl"):
            assert name in installed, f"{name} not installed on {node.name}: {installed}"
        assert "weftd" not in installed, f"weftd (the DaemonSet's container) in {node.name}'s CNI bin dir: {installed}"
        # The conf dir holds a link to the conflist on the node's /run (--cni-conf-volatile): after a
        # reboot it dangles until weftd has the subnet again. It resolves inside the node's mounts.
        link = os.readlink(os.path.join(node.path("cni-net.d"), "10-weft.conflist"))
        assert link == "/run/weft/10-weft.conflist", f"{node.name}'s conf dir entry points at {link}"
        with open(node.node_view(link)) as f:
            conf = json.load(f)
        assert conf["plugins"][0]["type"] == "weft", f"{node.name}'s conflist: {conf}"
        # The conflist names no subnet: weftd's subnet.env gives the Node's podCIDR (its gateway address).
        assert "subnet" not in conf["plugins"][0], f"{node.name}'s conflist names a subnet: {conf}"
        with open(node.node_view("/run/flannel/subnet.env")) as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line)
        node_object = cluster.kubectl_json("get", "node", node.name)
        cidr = ipaddress.ip_network(node_object["spec"]["podCIDR"])
        assert env.get("FLANNEL_SUBNET") == f"{cidr.network_address + 1}/{cidr.prefixlen}", \
            f"{node.name}: subnet.env {env} for podCIDR {cidr}"
        # A dual-stack Node's second podCIDR is the IPv6 one: FLANNEL_IPV6_SUBNET, likewise its gateway.
        cidrs6 = [ipaddress.ip_network(c) for c in node_object["spec"].get("podCIDRs", []) if ":" in c]
        if cluster.dual_stack:
            assert len(cidrs6) == 1, f"{node.name}: podCIDRs {node_object['spec'].get('podCIDRs')} on a dual-stack cluster"
            assert env.get("FLANNEL_IPV6_SUBNET") == f"{cidrs6[0].network_address + 1}/{cidrs6[0].prefixlen}", \
                f"{node.name}: subnet.env {env} for IPv6 podCIDR {cidrs6[0]}"
        else:
            assert not cidrs6 and "FLANNEL_IPV6_SUBNET" not in env, f"{node.name}: IPv6 on an IPv4 cluster: {env}"

        def network_available(name=node.name):
            conditions = cluster.kubectl_json("get", "node", name)["status"]["conditions"]
            condition = next((c for c in conditions if c["type"] == "NetworkUnavailable"), {})
            return condition.get("status") == "False" and condition.get("reason") == "WeftIsUp"
        wait_until(network_available, 30, interval=0.5, what=f"NetworkUnavailable=False (WeftIsUp) on {node.name}")
    served = ""
    if not cluster.kube_proxy:
        # weftd --services: each node has the Services table (the node turned Ready only after weftd wrote
        # it) and no kube-proxy, neither started by the harness nor with rules in any iptables.
        for node in cluster.nodes:
            assert not node.alive("kube-proxy"), f"kube-proxy runs on {node.name} of a cluster without it"
            tables = node.in_node("nft", "list", "tables", check=True).stdout
            assert "table inet weft-services" in tables, f"{node.name}: no weft-services table: {tables}"
            for tool in ("iptables-legacy-save", "iptables-nft-save"):
                rules = node.in_node(tool, check=True).stdout
                assert "KUBE-SERVICES" not in rules, f"{node.name}: kube-proxy's rules in {tool}: {rules[:500]}"
        served = "; no kube-proxy, table inet weft-services on each node"
    pod = cluster.kubectl_json("get", "pods", "-n", "kube-system", "-l", "app=weft")["items"][0]
    image = pod["status"]["initContainerStatuses"][0]["imageID"]
    cidrs = {n.name: ",".join(cluster.kubectl_json("get", "node", n.name)["spec"]["podCIDRs"]) for n in cluster.nodes}
    message = before[NODE_NAME].get("message", "")[:120]
    applied = os.path.basename(manifest) if manifest else "deploy/weft.yaml"
    return (f"{len(cluster.nodes)} nodes NotReady before ({message}); all Ready {time.monotonic() - t:.1f} s after "
            f"kubectl apply -f {applied}; subnet.env = podCIDR{'s (both families)' if cluster.dual_stack else ''} "
            f"and NetworkUnavailable=False (WeftIsUp) on each{served}; podCIDRs {cidrs}; image {image}")


def host_gw_manifest(out_dir, ipv6_network=None, api_server=None):
    """deploy/weft.yaml with host-gw instead of vxlan in its net-conf (the one edit an operator makes)
    and, given `ipv6_network`, dual-stack: "EnableIPv6": true and "IPv6Network" added after its
    "Network" (what the ConfigMap's comment tells an operator of a dual-stack cluster to add); given
    `api_server` (https://HOST:PORT), Services served by weftd: the ConfigMap's `services: "true"` and
    `api-server` set (the README's "Weft without kube-proxy")."""
    with open(os.path.join(REPO, "deploy", "weft.yaml")) as f:
        text = f.read()
    # The net-conf's own line (indented JSON), not the comments above it that name the backends.
    edited, count = re.subn(r'^(\s+)"Type":\s*"vxlan"$', r'\1"Type": "host-gw"', text, flags=re.M)
    if count != 1:
        raise AssertionError(f"deploy/weft.yaml: expected one vxlan backend in the net-conf, found {count}")
    name = "weft-host-gw.yaml"
    if ipv6_network:
        edited, count = re.subn(r'^(\s+)("Network":\s*"[^"]+",)$',
                                lambda m: f'{m.group(1)}{m.group(2)}\n{m.group(1)}"EnableIPv6": true,\n'
                                          f'{m.group(1)}"IPv6Network": "{ipv6_network}",', edited, flags=re.M)
        if count != 1:
            raise AssertionError(f"deploy/weft.yaml: expected one \"Network\" line in the net-conf, found {count}")
        name = "weft-host-gw-dual-stack.yaml"
    if api_server:
        for key, value in (("services", "true"), ("api-server", api_server)):
            edited, count = re.subn(rf'^(\s+){key}: "[^"]*"$', rf'\1{key}: "{value}"', edited, flags=re.M)
            if count != 1:
                raise AssertionError(f"deploy/weft.yaml: expected one `{key}` key in the ConfigMap, found {count}")
        name = name.replace(".yaml", "-services.yaml")
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        f.write(edited)
    return path


def teardown_check(cluster, results, section):
    t = time.monotonic()
    cluster.down()
    left = cluster.leftovers()
    results.timing(f"{section}: teardown", time.monotonic() - t)
    results.add(section, "teardown: every process stopped by PID, no netns, mount, cgroup or run dir left",
                "FAIL" if left else "PASS", time.monotonic() - t, json.dumps(left) if left else "")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--weft-image", required=True)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--focus", default="")
    parser.add_argument("--sets", default="", help="the k8s part's sets (kube_e2e.SETS), comma-separated; default: kube_e2e.DEFAULT_SETS")
    parser.add_argument("--nodes", default="", help="ginkgo nodes per set, e.g. netpol=4 (kube_e2e.parse_nodes)")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    sets = {s.strip() for s in args.sets.split(",") if s.strip()}
    refusal = refuse_narrowing(os.environ, parts, sets, args.focus)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    unknown = sorted(parts - set(PARTS))
    if unknown:
        print(f"unknown e2e parts {unknown}; known: {','.join(PARTS)}", file=sys.stderr)
        return 2
    try:
        nodes = kube_e2e.parse_nodes(args.nodes)
        kube_e2e.sets_to_run(sets, args.focus, nodes)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    results = Results(os.path.join(args.out, "results.txt"))
    t_all = time.monotonic()
    kube_bin, _ = default_paths()
    t = time.monotonic()
    archives = build_images(kube_bin)
    results.timing("test images (pause, agnhost, busybox)", time.monotonic() - t)
    version = run([os.path.join(kube_bin, "kube-apiserver"), "--version"]).stdout.strip()
    results.note(f"{version} from Debian's source package ({os.path.dirname(kube_bin)}); "
                 f"Weft image {args.weft_image}")

    proxied = {}   # {who serves Services: {set: (passed, failed, skipped)}}, side by side at the end
    if parts & {"smoke", "multinode", "k8s", "policy"} or args.focus:
        cluster = Cluster(kube_bin, archives, args.weft_image, mask=24, nodes=NODES)
        others = [node.name for node in cluster.nodes[1:]]
        try:
            cluster.up(install_weft=False)
            results.timing(f"cluster A ({NODES} nodes): control plane ready", cluster.timings["control plane"])
            results.timing("cluster A: node components up (images imported)", cluster.timings["node components"])
            ok = results.run("install", f"{NODES} nodes turn Ready because Weft's DaemonSet installed it", install_check,
                             cluster, results)
            if "node Ready" in cluster.timings:
                results.timing("cluster A: start to every Node Ready (Weft installed by its DaemonSet)",
                               cluster.timings["node Ready"])
            if ok:
                if "smoke" in parts:
                    # Written for one node: nodes 2 and 3 cordoned, so its pods run on node 1.
                    t = time.monotonic()
                    cluster.cordon(*others)
                    smoke.run_all(cluster, results)
                    cluster.uncordon(*others)
                    results.timing("smoke tests", time.monotonic() - t)
                if "multinode" in parts:
                    t = time.monotonic()
                    multinode.run_all(cluster, results)
                    results.timing("multi-node (cross-node traffic, disruptions)", time.monotonic() - t)
                # E2E_SETS naming only cluster B's sets leaves cluster A's k8s part nothing to run.
                a_sets = sets - CLUSTER_B_ONLY if sets else set(kube_e2e.DEFAULT_SETS) - CLUSTER_B_BY_DEFAULT
                if ("k8s" in parts and a_sets) or args.focus:
                    t = time.monotonic()
                    proxied["kube-proxy (cluster A, vxlan)"] = kube_e2e.run_all(cluster, results, args.out, args.focus,
                                                                                a_sets, nodes)
                    results.timing("kubernetes e2e (all)", time.monotonic() - t)
                if "policy" in parts:
                    t = time.monotonic()
                    cluster.cordon(*others)
                    policy.run_all(cluster, results)
                    cluster.uncordon(*others)
                    results.timing("policy (start-up window, first probe, weftctl)", time.monotonic() - t)
        except Exception:
            results.add("cluster A", "cluster", "FAIL", 0, traceback.format_exc()[-2000:])
        finally:
            save_logs(cluster, args.out, "cluster-a")
            teardown_check(cluster, results, "cluster A")

    if parts & {"hostgw", "leak"}:
        # Three dual-stack nodes, no kube-proxy: host-gw, IPv6 and Services (weftd --services, reaching the
        # API server by its real address) in the ConfigMap. The direct routes of both families, then
        # Kubernetes' sets on them, every Service served by weftd; then the leak test on node 1 (the
        # others cordoned), where a /26 is 61 IPv4 addresses.
        cluster = Cluster(kube_bin, archives, args.weft_image, mask=26, nodes=NODES, dual_stack=True, mask6=64,
                          kube_proxy=False)
        others = [node.name for node in cluster.nodes[1:]]
        hostgw_sets = set(HOSTGW_SETS) & sets if sets else set(HOSTGW_SETS)
        try:
            cluster.up(install_weft=False)
            ok = results.run("install (cluster B)", f"{NODES} dual-stack nodes without kube-proxy turn Ready because "
                             "Weft's DaemonSet (host-gw, IPv6 and Services in its ConfigMap) installed it", install_check,
                             cluster, results, host_gw_manifest(args.out, ipv6_network=CLUSTER_CIDR6,
                                                                api_server=f"https://{NODE_IP}:6443"))
            if "node Ready" in cluster.timings:
                results.timing(f"cluster B ({NODES} nodes, dual-stack, host-gw, /26 and /64): start to every Node "
                               "Ready (Weft installed by its DaemonSet)", cluster.timings["node Ready"])
            if ok and "hostgw" in parts:
                t = time.monotonic()
                routes4 = results.run("host-gw", "host-gw: direct routes between the nodes, pods reach each other",
                                      multinode.test_host_gw, cluster)
                routes6 = results.run("host-gw", "host-gw over IPv6: each node routes each peer's IPv6 podCIDR via "
                                      "its IPv6 address; the pods of every pair of nodes reach each other over IPv6 "
                                      "(IPv4 the control)", dualstack.test_ipv6_host_gw, cluster)
                if routes4 and routes6 and hostgw_sets:
                    proxied["weftd --services (cluster B, host-gw, dual-stack)"] = kube_e2e.run_all(
                        cluster, results, args.out, only=hostgw_sets, nodes=nodes, tag="hostgw-", section="host-gw e2e")
                results.timing("host-gw (routes of both families; granular, Services, hostPort, NetworkPolicy and "
                               "dual-stack specs, Services served by weftd)", time.monotonic() - t)
            if ok and "leak" in parts:
                cluster.cordon(*others)
                results.run("leak", "0<->60 pods on a /26 with kubelet and containerd killed, then a reboot: "
                            "every pod Running, reservations == running pods", leak.test_leak_recovery, cluster, results)
        except Exception:
            results.add("cluster B", "cluster", "FAIL", 0, traceback.format_exc()[-2000:])
        finally:
            save_logs(cluster, args.out, "cluster-b")
            teardown_check(cluster, results, "cluster B")

    for line in side_by_side(proxied):
        results.note(line)
    if len(proxied) == 2:
        # What passes with kube-proxy must pass with weftd --services (counted per set both ran).
        (with_kube_proxy, kube_proxy_sets), (with_weftd, weftd_sets) = proxied.items()
        worse = {name: (kube_proxy_sets[name], weftd_sets[name]) for name in set(kube_proxy_sets) & set(weftd_sets)
                 if weftd_sets[name][0] < kube_proxy_sets[name][0] or weftd_sets[name][1] > kube_proxy_sets[name][1]}
        results.add("side by side", f"every set both ran passes as many specs with {with_weftd} as with "
                    f"{with_kube_proxy}", "FAIL" if worse else "PASS", 0,
                    f"worse (passed, failed, skipped): {worse}" if worse else
                    f"sets {sorted(set(kube_proxy_sets) & set(weftd_sets))}")
    results.timing("make e2e total (after the build)", time.monotonic() - t_all)
    passed, failed, skipped = results.counts()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


def side_by_side(proxied):
    """Lines comparing each Kubernetes set's counts under each Service proxy ({proxy: {set: (passed,
    failed, skipped)}}): what passes with kube-proxy must pass with weftd --services."""
    if len(proxied) < 2:
        return []
    lines = ["Kubernetes e2e sets by Service proxy (passed/failed/skipped): " + " | ".join(proxied)]
    for set_name in sorted(set().union(*proxied.values())):
        cells = ["%d/%d/%d" % counts if counts else "not run"
                 for counts in (by_set.get(set_name) for by_set in proxied.values())]
        lines.append(f"  {set_name}: " + " | ".join(cells))
    return lines


def save_logs(cluster, out, label):
    """Keeps the daemons' logs (the run dir goes with the cluster)."""
    target = os.path.join(out, f"logs-{label}")
    if os.path.isdir(cluster.path("logs")):
        run(["rm", "-rf", target], check=False)
        run(["cp", "-a", cluster.path("logs"), target], check=False)


if __name__ == "__main__":
    sys.exit(main())
