"""Smoke tests against the e2e cluster: each test works in its own namespace, deletes it, and checks
that the node is clean afterwards (no veth, IFB, reservation, nft element or iptables rule of Weft's)."""

import ipaddress
import re

from harness import (AGNHOST, apply, assert_node_clean, delete_namespace, exec_in, node_links,
                     node_pod_cidr, retry, say, wait_pods)
from cluster import NODE_IP

HOST_PORT = 18080


def _namespace(name):
    return f"""apiVersion: v1
kind: Namespace
metadata:
  name: {name}
"""


def _web(namespace, name, replicas, labels=None, annotations=None, host_port=None):
    """A Deployment of agnhost netexec (HTTP 8080, UDP 8081)."""
    labels = dict(labels or {}, app=name)
    label_yaml = ", ".join(f"{k}: {v}" for k, v in labels.items())
    annotation_yaml = ""
    if annotations:
        annotation_yaml = "      annotations: {" + ", ".join(f'{k}: "{v}"' for k, v in annotations.items()) + "}\n"
    ports = "        - {containerPort: 8080, protocol: TCP}\n        - {containerPort: 8081, protocol: UDP}\n"
    if host_port:
        ports = (f"        - {{containerPort: 8080, hostPort: {host_port}, protocol: TCP}}\n"
                 f"        - {{containerPort: 8081, hostPort: {host_port}, protocol: UDP}}\n")
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{{label_yaml}}}
{annotation_yaml}    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: netexec
        image: {AGNHOST}
        args: ["netexec", "--http-port=8080", "--udp-port=8081"]
        ports:
{ports}        readinessProbe:
          httpGet: {{path: /healthz, port: 8080}}
          periodSeconds: 1
"""


def _service(namespace, name, selector):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector: {{{selector}}}
  ports:
  - {{name: http, port: 80, targetPort: 8080, protocol: TCP}}
  - {{name: udp, port: 90, targetPort: 8081, protocol: UDP}}
"""


def _http(cluster, ns, pod, url):
    return exec_in(cluster, ns, pod, "curl", "-sS", "-m", "5", url).strip()


def _udp(cluster, ns, pod, host, port):
    return exec_in(cluster, ns, pod, "sh", "-c", f"echo hostname | nc -u -w 1 {host} {port}").strip()


def test_pods_and_services(cluster):
    """A Deployment's pods get addresses from the podCIDR; pod->pod TCP and UDP; pod->Service TCP and
    UDP (by ClusterIP and by DNS name); a pod reaching itself through its own Service (hairpin)."""
    ns = "smoke-net"
    apply(cluster, _namespace(ns))
    try:
        apply(cluster, _web(ns, "web", 3))
        apply(cluster, _service(ns, "web", "app: web"))
        items = wait_pods(cluster, ns, "app=web", 3)
        cidr = ipaddress.ip_network(node_pod_cidr(cluster))
        ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in items}
        outside = [ip for ip in ips.values() if ipaddress.ip_address(ip) not in cidr]
        assert not outside, f"pod addresses {outside} outside the node's podCIDR {cidr}"
        assert len(set(ips.values())) == 3, f"duplicate pod addresses: {ips}"
        names = sorted(ips)
        a, b = names[0], names[1]
        got = retry(lambda: _check_equal(_http(cluster, ns, a, f"http://{ips[b]}:8080/hostname"), b), "pod->pod TCP")
        retry(lambda: _check_equal(_udp(cluster, ns, a, ips[b], 8081), b), "pod->pod UDP")
        service = cluster.kubectl_json("get", "service", "-n", ns, "web")["spec"]["clusterIP"]
        # Every backend must answer through the Service: kube-proxy picks one at random per connection,
        # so ask until all three have (a backend missed in 40 tries: odds about 3 x (2/3)^40, 3e-7).
        seen_tcp, seen_udp = set(), set()
        for _ in range(40):
            if len(seen_tcp) < 3:
                seen_tcp.add(retry(lambda: _check_in(_http(cluster, ns, a, f"http://{service}/hostname"), names),
                                    "pod->Service TCP"))
            if len(seen_udp) < 3:
                seen_udp.add(retry(lambda: _check_in(_udp(cluster, ns, a, service, 90), names), "pod->Service UDP"))
        assert seen_tcp == set(names), f"Service {service} over TCP reached {sorted(seen_tcp)} of {names}"
        assert seen_udp == set(names), f"Service {service} over UDP reached {sorted(seen_udp)} of {names}"
        by_name = retry(lambda: _check_in(_http(cluster, ns, a, f"http://web.{ns}.svc.cluster.local/hostname"), names),
                         "pod->Service by DNS name")
        short = retry(lambda: _check_in(_http(cluster, ns, a, "http://web/hostname"), names), "pod->Service by short name")
        # Hairpin: a Service whose only endpoint is the client itself.
        cluster.kubectl("label", "pod", "-n", ns, a, "solo=yes")
        apply(cluster, _service(ns, "solo", "solo: \"yes\""))
        solo = cluster.kubectl_json("get", "service", "-n", ns, "solo")["spec"]["clusterIP"]
        retry(lambda: _check_equal(_http(cluster, ns, a, f"http://{solo}/hostname"), a), "pod->own Service TCP (hairpin)")
        retry(lambda: _check_equal(_udp(cluster, ns, a, solo, 90), a), "pod->own Service UDP (hairpin)")
        detail = (f"pods {sorted(ips.values())} in {cidr}; pod->pod {got}; Service {service} reached "
                  f"{len(seen_tcp)}/3 backends over TCP, {len(seen_udp)}/3 over UDP; DNS {by_name}, {short}; hairpin ok")
    finally:
        delete_namespace(cluster, ns)
    assert_node_clean(cluster)
    return detail


def _check_equal(value, expected):
    if value != expected:
        raise AssertionError(f"got {value!r}, expected {expected!r}")
    return value


def _check_in(value, allowed):
    if value not in allowed:
        raise AssertionError(f"got {value!r}, expected one of {allowed}")
    return value


def test_host_port(cluster):
    """A hostPort pod reached from outside the node (another netns on the node's link), from another
    pod, and from the node itself (node address and 127.0.0.1)."""
    ns = "smoke-hostport"
    apply(cluster, _namespace(ns))
    try:
        apply(cluster, _web(ns, "hp", 1, host_port=HOST_PORT))
        apply(cluster, _web(ns, "client", 1))
        target = wait_pods(cluster, ns, "app=hp", 1)[0]["metadata"]["name"]
        client = wait_pods(cluster, ns, "app=client", 1)[0]["metadata"]["name"]
        url = f"http://{NODE_IP}:{HOST_PORT}/hostname"

        def outside():
            result = cluster.in_outside("curl", "-sS", "-m", "5", url)
            if result.returncode != 0:
                raise AssertionError(result.stderr.strip())
            return _check_equal(result.stdout.strip(), target)
        retry(outside, "hostPort from outside the node")
        retry(lambda: _check_equal(_http(cluster, ns, client, url), target), "hostPort from another pod")
        retry(lambda: _check_equal(_http(cluster, ns, target, url), target), "hostPort from the pod itself")
        for address in (NODE_IP, "127.0.0.1"):
            def from_node(address=address):
                result = cluster.in_node("curl", "-sS", "-m", "5", f"http://{address}:{HOST_PORT}/hostname", mount=False)
                if result.returncode != 0:
                    raise AssertionError(result.stderr.strip())
                return _check_equal(result.stdout.strip(), target)
            retry(from_node, f"hostPort from the node via {address}")

        def udp_outside():
            result = cluster.in_outside("sh", "-c", f"echo hostname | nc -u -w 2 {NODE_IP} {HOST_PORT}")
            return _check_equal(result.stdout.strip(), target)
        retry(udp_outside, "UDP hostPort from outside the node")
        detail = f"{url} -> {target} from outside (TCP, UDP), from a pod, from itself, from the node (node IP, 127.0.0.1)"
    finally:
        delete_namespace(cluster, ns)
    assert_node_clean(cluster)
    return detail


def test_bandwidth(cluster):
    """kubernetes.io/ingress-bandwidth and egress-bandwidth: a TBF on the pod's host veth (ingress) and
    on its IFB (egress), seen with tc from the node."""
    ns = "smoke-bandwidth"
    apply(cluster, _namespace(ns))
    try:
        apply(cluster, _web(ns, "shaped", 1, annotations={"kubernetes.io/ingress-bandwidth": "10M",
                                                           "kubernetes.io/egress-bandwidth": "20M"}))
        pod = wait_pods(cluster, ns, "app=shaped", 1)[0]["metadata"]["name"]
        peer = int(exec_in(cluster, ns, pod, "cat", "/sys/class/net/eth0/iflink").strip())
        links = cluster.in_node("ip", "-o", "link", "show", mount=False).stdout
        veth = None
        for line in links.splitlines():
            index, name = line.split(":")[0].strip(), line.split(":")[1].strip().split("@")[0]
            if int(index) == peer:
                veth = name
        assert veth, f"no host veth with ifindex {peer}"
        root = cluster.in_node("tc", "qdisc", "show", "dev", veth, mount=False).stdout
        match = re.search(r"qdisc tbf \S+ root .*rate (\S+)", root)
        assert match, f"no tbf root qdisc on {veth}: {root}"
        assert match.group(1) == "10Mbit", f"ingress rate {match.group(1)} on {veth}, expected 10Mbit: {root}"
        ifbs = node_links(cluster, "ifb")
        assert len(ifbs) == 1, f"expected one IFB for the egress limit, found {ifbs}"
        egress = cluster.in_node("tc", "qdisc", "show", "dev", ifbs[0], mount=False).stdout
        match = re.search(r"qdisc tbf \S+ root .*rate (\S+)", egress)
        assert match and match.group(1) == "20Mbit", f"egress tbf on {ifbs[0]}: {egress}"
        redirect = cluster.in_node("tc", "filter", "show", "dev", veth, "ingress", mount=False).stdout
        assert ifbs[0] in redirect, f"no redirect from {veth} to {ifbs[0]}: {redirect}"
        detail = f"{veth}: tbf rate 10Mbit (ingress); {ifbs[0]}: tbf rate 20Mbit (egress), redirected from {veth}"
    finally:
        delete_namespace(cluster, ns)
    assert_node_clean(cluster)
    return detail


TESTS = [
    ("pods get podCIDR addresses; pod->pod, pod->Service (TCP, UDP, DNS), hairpin", test_pods_and_services),
    ("hostPort from outside, from a pod, from the node", test_host_port),
    ("bandwidth annotations shape the pod (tbf on host veth and IFB)", test_bandwidth),
]


def run_all(cluster, results):
    for name, function in TESTS:
        say(f"smoke: {name}")
        results.run("smoke", name, function, cluster)
