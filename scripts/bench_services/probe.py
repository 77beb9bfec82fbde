"""The prober: a process in the client namespace that opens new TCP connections to a ClusterIP (each a new
conntrack entry, so each meets the proxy's current rules) and reports what came back. Outcomes:
`accepted` (SYN-ACK: an endpoint with a listener), `refused` (RST or ICMP port unreachable: an endpoint
without one, or a Service without endpoints), `unserved` (anything but accepted: also no answer within
100 ms, or host/network unreachable from the node, which has no route to the Service range)."""

import errno
import sys
import time

from lib.prober import linger_socket
from lib.prober import wait_for as probe

ACCEPTED, REFUSED, OTHER = "accepted", "refused", "other"


def _outcome(error):
    if error == 0:
        return ACCEPTED
    if error == errno.ECONNREFUSED:
        return REFUSED
    return OTHER


def _matches(outcome, state):
    return outcome != ACCEPTED if state == "unserved" else outcome == state


def wait_for(address, port, state, interval_ns, ready_after=5, stable=10, give_up_s=120, out=sys.stdout):
    """Fires a connection every interval. Prints `ready` once `ready_after` attempts in a row did not have
    `state` (the change may be made now), then waits for `stable` consecutive attempts in `state` and
    returns (send time of the first of them, send time of the attempt before it, attempts), or None."""
    return probe(address, port, _outcome, lambda outcome: _matches(outcome, state), interval_ns, ready_after=ready_after,
                 stable=stable, give_up_s=give_up_s, out=out, already=f"error: already {state}")


def connect_times(addresses, port, count):
    """`count` sequential blocking connects, round robin over `addresses`: each one's duration in µs
    (SYN to SYN-ACK as the client sees it), -1 for one that failed or took over a second."""
    times = []
    for i in range(count):
        s = linger_socket()
        s.settimeout(1.0)
        start = time.perf_counter_ns()
        try:
            s.connect((addresses[i % len(addresses)], port))
            times.append((time.perf_counter_ns() - start) / 1000)
        except OSError:
            times.append(-1)
        finally:
            s.close()
    return times


def connection_rate(address, port, seconds):
    """New connections, one after another, for `seconds`: (accepted, failed)."""
    accepted = failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = linger_socket()
        s.settimeout(1.0)
        try:
            s.connect((address, port))
            accepted += 1
        except OSError:
            failed += 1
        finally:
            s.close()
    return accepted, failed


def prober_main(interval_ms):
    """`bench-services.py --probe INTERVAL_MS`, in the client namespace. One command per line on stdin:
    `wait ADDRESS PORT STATE [GIVE_UP_S]` → `ready`, then `done FIRST PREVIOUS ATTEMPTS` (or `done - - -`);
    `connect PORT COUNT ADDRESS[,ADDRESS…]` → `times µs…`; `rate ADDRESS PORT SECONDS` → `rate ACCEPTED FAILED`."""
    interval_ns = int(float(interval_ms) * 1e6)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "wait":
            result = wait_for(words[1], int(words[2]), words[3], interval_ns, give_up_s=float(words[4]) if len(words) > 4 else 120)
            print("done - - -" if result is None else "done {} {} {}".format(*result), flush=True)
        elif words[0] == "connect":
            times = connect_times(words[3].split(","), int(words[1]), int(words[2]))
            print("times " + " ".join(f"{t:.1f}" for t in times), flush=True)
        elif words[0] == "rate":
            print("rate {} {}".format(*connection_rate(words[1], int(words[2]), float(words[3]))), flush=True)
        else:
            print(f"error: unknown command {words[0]}", flush=True)
