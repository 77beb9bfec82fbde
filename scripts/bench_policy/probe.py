"""Probing a pod with new TCP connections (each a new conntrack entry, so every attempt meets the policy),
and the listener that answers them in a pod."""

import select
import socket
import sys

from .settings import now_ns


def connect_nonblocking(address, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    # Closing sends a RST: no TIME_WAIT, no FIN exchange left for the next attempt to meet.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sent = now_ns()
    error = s.connect_ex((address, port))
    return s, sent, error


def answered(s):
    error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    # Accepted or refused: either way a packet came back from the pod.
    return error in (0, 111), error


def probe_loop(address, port, interval_ns, timeout_ns, until, ready_after=5, stable=10, give_up_s=30, out=None):
    """Fires a connection every interval until `stable` consecutive attempts have outcome `until`
    (True: answered, False: dropped). Returns (first send ns of that run, send ns of the attempt before
    it, attempts). Prints 'ready' to `out` once `ready_after` attempts had the other outcome."""
    pending = {}  # fd -> (socket, index, sent)
    outcomes = {}  # index -> (sent, answered)
    index = 0
    next_send = now_ns()
    deadline = now_ns() + give_up_s * 10**9
    poller = select.poll()
    ready_sent = out is None
    known = run = 0
    while True:
        t = now_ns()
        if t >= next_send:
            s, sent, error = connect_nonblocking(address, port)
            if error in (0, 111):
                outcomes[index] = (sent, True)
                s.close()
            elif error == 115:  # EINPROGRESS
                pending[s.fileno()] = (s, index, sent)
                poller.register(s.fileno(), select.POLLOUT)
            else:
                outcomes[index] = (sent, False)
                s.close()
            index += 1
            next_send = max(next_send + interval_ns, t)
        wait_ms = max(0, (next_send - now_ns()) / 1e6)
        for fd, _ in poller.poll(wait_ms):
            s, i, sent = pending.pop(fd)
            poller.unregister(fd)
            ok, _ = answered(s)
            outcomes[i] = (sent, ok)
            s.close()
        t = now_ns()
        for fd, (s, i, sent) in list(pending.items()):
            if t - sent > timeout_ns:
                pending.pop(fd)
                poller.unregister(fd)
                outcomes[i] = (sent, False)
                s.close()
        # Outcomes in order of sending: the current run of `until`.
        while known in outcomes:
            if outcomes[known][1] == until:
                run += 1
            else:
                run = 0
            known += 1
            if not ready_sent and known == ready_after:
                if run == 0 and all(outcomes[i][1] != until for i in range(ready_after)):
                    print("ready", file=out, flush=True)
                    ready_sent = True
                else:
                    print("error: the pod is already in the state waited for", file=out, flush=True)
                    return None
            if ready_sent and run >= stable:
                for s, _, _ in pending.values():
                    s.close()
                start = known - run
                previous = outcomes[start - 1][0] if start > 0 else None
                return outcomes[start][0], previous, index
        if now_ns() > deadline:
            for fd, (s, _, _) in pending.items():
                s.close()
            return None


def prober_main(address, port, interval_ms):
    """`bench-policy.py --probe ADDRESS PORT INTERVAL_MS`, in the client pod's namespace: per line on
    stdin (`drop` or `ok`), probes until that state holds and prints `done FIRST PREVIOUS ATTEMPTS`."""
    for line in sys.stdin:
        until = line.strip() == "ok"
        result = probe_loop(address, int(port), int(float(interval_ms) * 1e6), 100 * 10**6, until, out=sys.stdout)
        if result is None:
            print("done - - -", flush=True)
        else:
            first, previous, attempts = result
            print(f"done {first} {previous if previous is not None else '-'} {attempts}", flush=True)


LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4096)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""
