"""The benches' prober: new TCP connections fired at a fixed interval (each a new conntrack entry, so every
attempt meets the rules in force when its SYN leaves), each attempt's outcome read without blocking, and the
listener that accepts them in a server's namespace."""

import errno
import select
import socket
import time

TIMEOUT_NS = 100 * 10**6  # an attempt with no answer after this is a drop

LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4096)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def now_ns():
    return time.monotonic_ns()


def linger_socket():
    """A TCP socket whose close sends a RST: no TIME_WAIT, no FIN exchange left for the next attempt to meet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return s


def connect_nonblocking(address, port):
    """(socket, send time, connect_ex's errno): EINPROGRESS until the answer (or none) comes."""
    s = linger_socket()
    s.setblocking(False)
    sent = now_ns()
    error = s.connect_ex((address, port))
    return s, sent, error


def answered(s):
    """(whether a packet came back: accepted or refused, the socket's error) once the socket is writable."""
    error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return error in (0, errno.ECONNREFUSED), error


def wait_for(address, port, classify, matches, interval_ns, ready_after=5, stable=10, give_up_s=120, out=None,
             already="error: already in the state waited for"):
    """Fires a connection every interval; `classify(errno)` is an attempt's outcome (ETIMEDOUT for no answer
    within TIMEOUT_NS), `matches(outcome)` whether it is the state waited for. With `out`, prints `ready` there
    once the first `ready_after` attempts in a row did not match (the change may be made now; `already` and
    None if one did). Then waits for `stable` consecutive matching attempts and returns (send time of the
    first of them, send time of the attempt before it or None, attempts), or None after `give_up_s`."""
    pending = {}  # fd -> (socket, index, sent)
    outcomes = {}  # index -> (sent, matched)
    poller = select.poll()
    index = known = run = 0
    ready = out is None
    next_send = now_ns()
    deadline = next_send + give_up_s * 10**9
    try:
        while now_ns() < deadline:
            t = now_ns()
            if t >= next_send:
                s, sent, error = connect_nonblocking(address, port)
                if error == errno.EINPROGRESS:
                    pending[s.fileno()] = (s, index, sent)
                    poller.register(s.fileno(), select.POLLOUT)
                else:
                    outcomes[index] = (sent, matches(classify(error)))
                    s.close()
                index += 1
                next_send = max(next_send + interval_ns, t)
            for fd, _ in poller.poll(max(0, (next_send - now_ns()) / 1e6)):
                s, i, sent = pending.pop(fd)
                poller.unregister(fd)
                outcomes[i] = (sent, matches(classify(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))))
                s.close()
            t = now_ns()
            for fd, (s, i, sent) in list(pending.items()):
                if t - sent > TIMEOUT_NS:
                    pending.pop(fd)
                    poller.unregister(fd)
                    outcomes[i] = (sent, matches(classify(errno.ETIMEDOUT)))
                    s.close()
            while known in outcomes:  # outcomes in order of sending: the current run of matching ones
                run = run + 1 if outcomes[known][1] else 0
                known += 1
                if not ready and known == ready_after:
                    if run == 0 and not any(outcomes[i][1] for i in range(ready_after)):
                        print("ready", file=out, flush=True)
                        ready = True
                    else:
                        print(already, file=out, flush=True)
                        return None
                if ready and run >= stable:
                    start = known - run
                    return outcomes[start][0], outcomes[start - 1][0] if start > 0 else None, index
        return None
    finally:
        for s, _, _ in pending.values():
            s.close()
