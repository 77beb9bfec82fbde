#!/usr/bin/env python3
"""Fresh connections for multinode.test_service_across_nodes, run in a network namespace (`nsenter --net=`).

--count times a new TCP connection carrying one HTTP/1.0 request for /hostname, and --count times a new
UDP socket (a new source port: a new conntrack entry, a new masquerade) sending agnhost netexec's
"hostname" command, all to --address; each bounded by --timeout. Then one request for /clientip: the
address the server saw. Prints JSON: {"tcp": [probe], "udp": [probe], "clientip": "..."}, a probe being
{"seconds", "answer"} (TCP also "connect": the handshake's seconds) or {"seconds", "error"}.
Standard library only.
"""

import argparse
import json
import socket
import sys
import time


def http(address, port, path, timeout):
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            connected = time.monotonic() - start
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            data = b""
            while time.monotonic() - start < timeout:
                sock.settimeout(max(timeout - (time.monotonic() - start), 0.001))
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            else:
                raise TimeoutError("no complete answer")
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 200 " not in status + " ":
            raise OSError(f"answered {status!r}")
        return {"seconds": time.monotonic() - start, "connect": connected, "answer": body.decode(errors="replace").strip()}
    except OSError as error:
        return {"seconds": time.monotonic() - start, "error": f"{type(error).__name__}: {error}"}


def udp(address, port, timeout):
    start = time.monotonic()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect((address, port))
            sock.send(b"hostname\n")
            answer = sock.recv(4096)
        return {"seconds": time.monotonic() - start, "answer": answer.decode(errors="replace").strip()}
    except OSError as error:
        return {"seconds": time.monotonic() - start, "error": f"{type(error).__name__}: {error}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--tcp-port", type=int, required=True)
    parser.add_argument("--udp-port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    report = {"tcp": [http(args.address, args.tcp_port, "/hostname", args.timeout) for _ in range(args.count)],
              "udp": [udp(args.address, args.udp_port, args.timeout) for _ in range(args.count)]}
    seen = http(args.address, args.tcp_port, "/clientip", args.timeout)
    report["clientip"] = seen.get("answer") or seen.get("error")
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
