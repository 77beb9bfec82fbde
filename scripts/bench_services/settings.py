"""The Services bench's fixed names and addresses, its knobs from the environment, its log line."""

import os
import sys
import time

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SCRIPTS)
ENTRY = os.path.join(SCRIPTS, "bench-services.py")  # run again as the prober (`--probe`) inside the client namespace

TOKEN = "benchtoken"
NODE = "n1"
NAMESPACE = "bench"
SERVICE_PORT = 80
TARGET_PORT = 8080
ENDPOINTS_PER_SERVICE = 10
OPEN_SERVERS = 10  # server namespaces with a listener on TARGET_PORT: every Service's endpoints are these
CLUSTER_CIDR = "10.64.0.0/14"  # the servers (10.64.<i>.2) and the client (10.65.0.2): no masquerade needed
CLIENT_ADDRESS = "10.65.0.2"
SERVICE_CIDR = "10.96.0.0/16"  # kube_lab's kube-apiserver --service-cluster-ip-range

# weftd's metrics (issue #27: `weftd --services` names its histogram after kube-proxy's).
WEFT_PROGRAMMING_METRIC = "weftd_services_network_programming_duration_seconds"
# The counter of netlink messages weftd --services sends to the kernel (the report says "not published"
# while the series is absent).
WEFT_KERNEL_MESSAGES_METRIC = "weftd_services_kernel_messages_total"
KUBE_PROXY_PROGRAMMING_METRIC = "kubeproxy_network_programming_duration_seconds"
KUBE_PROXY_SYNC_METRIC = "kubeproxy_sync_proxy_rules_duration_seconds"

PROXIES = ("kube-proxy", "weft")


def log(message):
    print(f"[bench-services {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_levels():
    """SERVICES=100,1000,5000: the numbers of Services updates are measured at; first-packet latency and
    connection rate are measured at each of them and at 1."""
    sizes = sorted({int(s) for s in os.environ.get("SERVICES", "100,1000,5000").replace(" ", ",").split(",") if s})
    if not sizes or sizes[0] < 1:
        raise SystemExit("bench-services: SERVICES must list positive numbers")
    return sorted(set([1] + sizes)), sizes


def env_proxies():
    """SERVICES_PROXIES=kube-proxy,weft (the default): which halves run, in that order at each size."""
    names = [p for p in os.environ.get("SERVICES_PROXIES", ",".join(PROXIES)).replace(" ", ",").split(",") if p]
    unknown = [p for p in names if p not in PROXIES]
    if unknown or not names:
        raise SystemExit(f"bench-services: SERVICES_PROXIES takes {' and '.join(PROXIES)}, not {unknown or 'nothing'}")
    return names


def now_ns():
    return time.monotonic_ns()
