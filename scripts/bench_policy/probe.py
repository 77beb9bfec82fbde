"""Probing a pod with new TCP connections (scripts/lib/prober.py): an attempt is answered when the pod
accepted or refused it (either way a packet came back from the pod), dropped otherwise."""

import errno
import sys

from lib.prober import wait_for


def probe_loop(address, port, interval_ns, until, ready_after=5, stable=10, give_up_s=30, out=None):
    """Fires a connection every interval until `stable` consecutive attempts have outcome `until`
    (True: answered, False: dropped). Returns (first send ns of that run, send ns of the attempt before
    it, attempts). Prints 'ready' to `out` once `ready_after` attempts had the other outcome."""
    return wait_for(address, port, lambda error: error in (0, errno.ECONNREFUSED), lambda outcome: outcome == until, interval_ns,
                    ready_after=ready_after, stable=stable, give_up_s=give_up_s, out=out,
                    already="error: the pod is already in the state waited for")


def prober_main(address, port, interval_ms):
    """`bench-policy.py --probe ADDRESS PORT INTERVAL_MS`, in the client pod's namespace: per line on
    stdin (`drop` or `ok`), probes until that state holds and prints `done FIRST PREVIOUS ATTEMPTS`."""
    for line in sys.stdin:
        until = line.strip() == "ok"
        result = probe_loop(address, int(port), int(float(interval_ms) * 1e6), until, out=sys.stdout)
        if result is None:
            print("done - - -", flush=True)
        else:
            first, previous, attempts = result
            print(f"done {first} {previous if previous is not None else '-'} {attempts}", flush=True)
