#!/usr/bin/env python3
"""A network prober for policy.py, run inside a pod's network namespace (`nsenter --net=...`).

Until its stdin closes it sends, to every address given: an ICMP echo request every --icmp-interval
seconds, and a TCP connect to --port every --tcp-interval seconds (a connect that succeeds sends an
HTTP request naming the prober, so the server logs it, then closes). It also watches ARP on the
pod's interface: the first ARP packet sent by an address is when that address came up on the wire.

An answer is an echo reply, an accepted connection or a refused one (a RST), each from the address
probed: all three mean a packet reached that address and it replied. Connect attempts unanswered
after --tcp-timeout are abandoned.

Writes JSON to --out: start and end (time.time()), per address the probes sent, every echo request
(sent, replied or null), when each TCP connect was started, each TCP answer (sent, "open" or
"refused", when), and its ARP packets (first, count). Standard library only.
"""

import argparse
import array
import errno
import json
import os
import resource
import selectors
import socket
import struct
import sys
import time
from collections import deque

HTTP_REQUEST = b"GET /echo?msg=weft-policy-probe HTTP/1.0\r\n\r\n"
SOL_RAW, ICMP_FILTER, SO_SNDBUFFORCE, SO_RCVBUFFORCE = 255, 1, 32, 33   # linux/socket.h, icmp.h, asm-generic/socket.h


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident, seq):
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    payload = b"weft-policy-probe"
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


class Prober:
    def __init__(self, addresses, port, icmp_interval, tcp_interval, tcp_timeout, interface):
        self.addresses = list(addresses)
        self.wanted = set(self.addresses)
        self.port, self.icmp_interval, self.tcp_interval, self.tcp_timeout = port, icmp_interval, tcp_interval, tcp_timeout
        self.ident = os.getpid() & 0xFFFF
        self.icmp_sent = {a: array.array("d") for a in self.addresses}   # index = sequence number
        self.icmp_replied = {a: {} for a in self.addresses}               # seq -> reply time
        self.tcp_sent = {a: array.array("d") for a in self.addresses}   # when each connect was started
        self.tcp_answers = {a: [] for a in self.addresses}                # [sent, "open"|"refused", when]
        self.arp = {}                                                      # address -> [first, count]
        self.pending = deque()                                             # (deadline, socket)
        self.selector = selectors.DefaultSelector()
        self.send_errors = 0
        # One sending socket per address: requests waiting for an address's ARP hold their socket's
        # send buffer, and must not starve the others. They receive nothing (ICMP_FILTER blocks every
        # type); one socket receives the replies.
        self.senders = {}
        for address in self.addresses:
            sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sender.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", 0xFFFFFFFF))
            sender.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 1 << 20)
            sender.setblocking(False)
            self.senders[address] = sender
        self.icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.icmp.setblocking(False)
        self.icmp.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
        self.selector.register(self.icmp, selectors.EVENT_READ, "icmp")
        self.arp_socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        self.arp_socket.bind((interface, 0))
        self.arp_socket.setblocking(False)
        self.selector.register(self.arp_socket, selectors.EVENT_READ, "arp")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "stdin")

    def send_icmp_round(self):
        for address in self.addresses:
            sent = self.icmp_sent[address]
            now = time.time()
            try:
                self.senders[address].sendto(echo_request(self.ident, len(sent) & 0xFFFF), (address, 0))
            except OSError:
                self.send_errors += 1   # not sent: not counted
                continue
            sent.append(now)

    def send_tcp_round(self):
        for address in self.addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            now = time.time()
            code = sock.connect_ex((address, self.port))
            if code not in (errno.EINPROGRESS, 0):
                self.send_errors += 1
                sock.close()
                continue
            self.tcp_sent[address].append(now)
            self.selector.register(sock, selectors.EVENT_WRITE, ("tcp", address, now))
            self.pending.append((time.monotonic() + self.tcp_timeout, sock))

    def on_icmp(self):
        while True:
            try:
                packet, (source, _) = self.icmp.recvfrom(2048)
            except BlockingIOError:
                return
            header = (packet[0] & 0x0F) * 4
            if len(packet) < header + 8 or source not in self.wanted:
                continue
            kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", packet[header:header + 8])
            if kind == 0 and ident == self.ident:
                self.icmp_replied[source].setdefault(seq, time.time())

    def on_arp(self):
        while True:
            try:
                frame = self.arp_socket.recv(2048)
            except BlockingIOError:
                return
            if len(frame) < 42:
                continue
            sender = socket.inet_ntoa(frame[28:32])
            if sender in self.wanted:
                entry = self.arp.setdefault(sender, [time.time(), 0])
                entry[1] += 1

    def on_tcp(self, sock, address, sent):
        self.selector.unregister(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            self.tcp_answers[address].append([sent, "open", time.time()])
            try:
                sock.send(HTTP_REQUEST)
            except OSError:
                pass
        elif code == errno.ECONNREFUSED:
            self.tcp_answers[address].append([sent, "refused", time.time()])
        sock.close()

    def expire(self):
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _, sock = self.pending.popleft()
            if sock.fileno() >= 0:
                self.selector.unregister(sock)
                sock.close()

    def run(self):
        started = time.time()
        next_icmp = next_tcp = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_icmp:
                self.send_icmp_round()
                next_icmp = max(next_icmp + self.icmp_interval, now)
            if now >= next_tcp:
                self.send_tcp_round()
                next_tcp = max(next_tcp + self.tcp_interval, now)
            self.expire()
            wait = max(0.0, min(next_icmp, next_tcp) - time.monotonic())
            for key, _ in self.selector.select(wait):
                if key.data == "icmp":
                    self.on_icmp()
                elif key.data == "arp":
                    self.on_arp()
                elif key.data == "stdin":
                    if not sys.stdin.buffer.raw.read(4096):
                        return started, time.time()
                else:
                    self.on_tcp(key.fileobj, key.data[1], key.data[2])

    def report(self, started, ended):
        detail = {}
        for address in self.addresses:
            replied = self.icmp_replied[address]
            detail[address] = {
                "icmp": [[t, replied.get(seq & 0xFFFF)] for seq, t in enumerate(self.icmp_sent[address])],
                "tcp": self.tcp_answers[address],
                "tcp_sent": list(self.tcp_sent[address]),
                "arp": self.arp.get(address),
            }
        sent = {a: {"icmp": len(self.icmp_sent[a]), "tcp": len(self.tcp_sent[a])} for a in self.addresses}
        return {"started": started, "ended": ended, "sent": sent, "detail": detail, "send_errors": self.send_errors,
                "icmp_interval": self.icmp_interval, "tcp_interval": self.tcp_interval}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--icmp-interval", type=float, default=0.02)
    parser.add_argument("--tcp-interval", type=float, default=0.1)
    parser.add_argument("--tcp-timeout", type=float, default=0.5)
    parser.add_argument("--interface", default="eth0")
    parser.add_argument("addresses", nargs="+")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    prober = Prober(args.addresses, args.port, args.icmp_interval, args.tcp_interval, args.tcp_timeout, args.interface)
    print("probing", flush=True)
    report = prober.report(*prober.run())
    with open(args.out + ".tmp", "w") as out:
        json.dump(report, out)
    os.replace(args.out + ".tmp", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
