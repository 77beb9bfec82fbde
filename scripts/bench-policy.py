#!/usr/bin/env python3
"""scripts/bench-policy.py (`SCENARIOS=policy make bench`): NetworkPolicy enforcement by weftd against a
real API server (issue #17). Prints Markdown tables; nothing is asserted on timings.

Everything runs in one throwaway network namespace acting as the node (`<prefix>node`): etcd,
kube-apiserver (token auth, AlwaysAllow; no scheduler, controller-manager or kubelet), weftd
(`--backend none --network-policy`) and the `weft` plugin, which wires pods (namespaces `<prefix>p…`) onto
one bridge. This process joins the node namespace with setns(2), so every child it starts is there;
the host's namespace is never changed. Daemons are stopped by PID, the namespaces and the work
directory removed, on success and on failure. The control plane, the API client, the processes and the
cleanup are scripts/kube_lab.py's (over scripts/lib), shared with the demo's nodes (scripts/bench-nodes.py);
the bench's own parts are in scripts/bench_policy/.

Pods on this node are network namespaces wired by the plugin's ADD (their Pod objects created first,
`spec.nodeName` this node, `status.podIPs` patched afterwards as kubelet would); pods on other nodes are
Pod objects alone, with `status.podIPs` set through the status subresource.

Measured:
1. NetworkPolicy create → enforced, and delete → lifted: a prober process in a client pod opens a new
   TCP connection to a server pod every PROBE_INTERVAL_MS (a new connection is a new conntrack entry, so
   every attempt meets the policy); an attempt counts as dropped when no SYN-ACK comes within 100 ms.
   Enforcement is the send time of the first attempt of a run of dropped ones (the previous attempt was
   answered: the resolution is that gap). Beside it weftd's own weftd_policy_event_to_kernel_seconds.
   Once with only the probe pods, once with POLICIES policies and PODS pods present.
2. ADD start → first answered connection from a prober pod to the new pod (a listener runs in its
   namespace before ADD; connections fired every PROBE_INTERVAL_MS from ADD's return).
3. ADD duration with `networkPolicy` against the same ADD without it, alternating A B A B, same node,
   same policies and pods.

Knobs (environment): POLICY_ROUNDS=20 (create/delete cycles per load), ADD_ROUNDS=40 (pairs of ADDs),
POLICIES=100, PODS=200, REAL_PODS=20 (of PODS, wired by ADD on this node), PROBE_INTERVAL_MS=1,
WEFT_BIN, WEFTD_BIN, KUBE_BIN (kube-apiserver's directory; default: scripts/k8s's cache), ETCD_BIN.

Usage: bench-policy.py (the bench, as root) | bench-policy.py --probe ADDRESS PORT INTERVAL_MS (the prober the
bench runs inside a client pod: reads `drop`/`ok` lines, answers `ready` and `done FIRST PREVIOUS ATTEMPTS`).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the clone
sys.path.insert(0, HERE)
import kube_lab  # noqa: E402  scripts/kube_lab.py: the control plane, the API client, processes and cleanup
from bench_policy.bench import Bench  # noqa: E402
from bench_policy.probe import prober_main  # noqa: E402
from bench_policy.settings import log  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", nargs=3, metavar=("ADDRESS", "PORT", "INTERVAL_MS"),
                        help="run as the prober inside a client pod (the bench starts it)")
    args = parser.parse_args()
    if args.probe:
        try:
            prober_main(*args.probe)
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    return kube_lab.bench_main("bench-policy", Bench, log, tails=("weftd", "kube-apiserver"))


if __name__ == "__main__":
    sys.exit(main())
