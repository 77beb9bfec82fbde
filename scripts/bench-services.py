#!/usr/bin/env python3
"""scripts/bench-services.py (`SCENARIOS=services make bench`): Service proxying by weftd --services beside
kube-proxy 1.20 in iptables mode (issue #27), same node, same run. Prints Markdown tables and draws
benchmarks/services.png from its own numbers; nothing is asserted on timings.

Everything runs in throwaway network namespaces: the node (`<prefix>node`) holds etcd and kube-apiserver
(token auth, AlwaysAllow; no scheduler, controller-manager or kubelet) and the proxy under test; a client
namespace and server namespaces hang off it on routed veths (client 10.65.0.2, servers 10.64.<i>.2, ten
with a listener on 8080 and one without). Services and EndpointSlices (`discovery.k8s.io/v1beta1`) are
created through the API as the EndpointSlice controller would, each Service with ten endpoints drawn from
the ten real servers, so every probe is a real connection through the proxy's DNAT. This process joins
the node namespace with setns(2); the host's namespace is never changed (kube-proxy runs in the node's
network namespace and a private mount namespace with its own /run/xtables.lock, on iptables-legacy unless
KUBE_PROXY_IPTABLES says otherwise; the bench checks that the host's iptables has as many KUBE- rules after
it as before). Daemons are stopped by PID, the namespaces and the work directory removed, on success and
on failure.

At each number of Services (SERVICES, and 1), each proxy in turn (SERVICES_PROXIES) is started, measured,
stopped and its rules removed (kube-proxy --cleanup; weftd's `inet weft-…` tables), so both see the same
objects on the same node:
1. start → the last Service served; then the proxy's RSS and CPU time (from /proc, kube-proxy's waited-for
   iptables-restore children included);
2. first-packet latency (the connect time of a new TCP connection through a ClusterIP, sequential, over up
   to 20 Services spread across the table) and new connections per second through one ClusterIP, each
   beside the same straight to an endpoint;
3. at the SERVICES sizes, SERVICE_ROUNDS rounds of: create a Service with its slice, delete it, change one
   endpoint of a Service there and back. A prober in the client namespace opens a new connection every
   PROBE_INTERVAL_MS; a change is served at the first of ten consecutive connections with the new outcome
   (accepted for a created Service, refused or accepted as its one ready endpoint moves between the closed
   and an open server, not accepted for a deleted one). Beside it the proxy's own programming-latency
   histogram (kube-proxy's reads the slices' last-change-trigger-time annotation, which the bench sets);
   for weftd, the netlink messages of one endpoint change (weftd_services_kernel_messages_total; WEFT_KERNEL_MESSAGES_METRIC).

Knobs (environment): SERVICES=100,1000,5000, SERVICES_PROXIES=kube-proxy,weft, SERVICE_ROUNDS=10 (fewer once
SERVICE_BUDGET_S=60 of rounds are spent at one size; at least one), SERVICE_GIVE_UP_S=900 (a change not served
by then fails the run), KUBE_PROXY_IPTABLES (legacy, the default; nft; node: the node's own `iptables`),
FIRST_PACKETS=200, RATE_SECONDS=2, PROBE_INTERVAL_MS=1, SERVICES_PLOT (default benchmarks/services.png),
SERVICES_RESULTS (a JSON file of every number, written after each proxy at each size), WEFT_KERNEL_MESSAGES_METRIC,
WEFT_BIN, WEFTD_BIN, KUBE_BIN, KUBE_PROXY_BIN, ETCD_BIN.

Usage: bench-services.py (the bench, as root) | bench-services.py --probe INTERVAL_MS (the prober the
bench runs in the client namespace; its commands are in scripts/bench_services/probe.py).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the clone
sys.path.insert(0, HERE)
import kube_lab  # noqa: E402  scripts/kube_lab.py: the control plane, the API client, processes and cleanup
from bench_services.bench import Bench  # noqa: E402
from bench_services.probe import prober_main  # noqa: E402
from bench_services.settings import log  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", nargs=1, metavar="INTERVAL_MS", help="run as the prober in the client namespace (the bench starts it)")
    args = parser.parse_args()
    if args.probe:
        try:
            prober_main(args.probe[0])
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    return kube_lab.bench_main("bench-services", Bench, log, tails=("kube-proxy", "weftd", "kube-apiserver", "prober"))


if __name__ == "__main__":
    sys.exit(main())
