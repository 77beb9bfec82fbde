#!/usr/bin/env python3
"""Long-lived TCP streams for multinode.py's disruption tests, run inside a pod's network namespace
(`nsenter --net=...`).

Opens one HTTP/1.1 keep-alive connection to each address given (agnhost netexec on --port) and sends
`GET /echo?msg=<n>` on each every --interval seconds until its stdin closes, never reconnecting: a
connection that is reset, closed or unanswered for --timeout seconds is counted as broken and stays
broken, so "zero broken connections" means every stream lived through whatever happened meanwhile.

Prints "streaming" once every connection has had its first answer, then, when stdin closes, writes
JSON to --out: per address the requests answered, whether and how the connection broke, and the
longest gap between two answers (what a disruption cost the stream). Standard library only.
"""

import argparse
import json
import selectors
import socket
import sys
import time


class Stream:
    def __init__(self, address, port, timeout):
        self.address = address
        self.sock = socket.create_connection((address, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local_port = self.sock.getsockname()[1]
        self.timeout = timeout
        self.sent = 0
        self.answered = 0
        self.broken = None            # why, once broken
        self.last_answer = None
        self.longest_gap = 0.0
        self.buffer = b""

    def ask(self):
        message = f"GET /echo?msg={self.sent} HTTP/1.1\r\nHost: {self.address}\r\n\r\n".encode()
        self.sock.sendall(message)
        self.sent += 1
        self.asked = time.monotonic()

    def answer(self):
        """Reads one whole response (netexec's /echo: headers with Content-Length, then the body)."""
        deadline = time.monotonic() + self.timeout
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    status = head.split(b"\r\n")[0]
                    if b" 200 " not in status + b" ":
                        raise OSError(f"answer {status!r}")
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer in {self.timeout} s")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk

    def step(self):
        if self.broken:
            return
        try:
            self.ask()
            self.answer()
        except (OSError, ValueError) as error:
            self.broken = {"when": time.time(), "error": f"{type(error).__name__}: {error}"}
            return
        now = time.monotonic()
        if self.last_answer is not None:
            self.longest_gap = max(self.longest_gap, now - self.last_answer)
        self.last_answer = now
        self.answered += 1

    def report(self):
        return {"address": self.address, "local_port": self.local_port, "sent": self.sent, "answered": self.answered,
                "broken": self.broken, "longest_gap": round(self.longest_gap, 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("addresses", nargs="+")
    args = parser.parse_args()
    streams = [Stream(address, args.port, args.timeout) for address in args.addresses]
    for stream in streams:
        stream.step()
        if stream.broken:
            print(f"first request to {stream.address} failed: {stream.broken['error']}", flush=True)
            return 1
    print("streaming", flush=True)
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    started = time.time()
    while True:
        if selector.select(timeout=args.interval) and not sys.stdin.buffer.read1(4096):
            break
        for stream in streams:
            stream.step()
    with open(args.out, "w") as out:
        json.dump({"start": started, "end": time.time(), "streams": [s.report() for s in streams]}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
