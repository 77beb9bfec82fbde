#!/usr/bin/env python3
"""A stand-in for the cluster DNS (no CoreDNS image offline): answers the names kube-dns answers,
from the API's Services and Endpoints, polled every second.

  <svc>.<ns>.svc.<domain>                 A: the ClusterIP, or for a headless Service its ready endpoints
  <hostname>.<svc>.<ns>.svc.<domain>      A: an endpoint with that hostname (StatefulSet-style)
  <a-b-c-d>.<ns>.pod.<domain>             A: the address written in the name
  <svc>.<ns>.svc.<domain> (ExternalName)  CNAME to the external name (and its A if it is in the cluster)
  _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV for named ports

Everything else is NXDOMAIN (there is no upstream); AAAA for a known name is an empty answer.
UDP and TCP on --listen (the node's address, port 53): a selector-less Service `kube-dns` with this
address as its endpoint puts it behind the cluster DNS IP, through kube-proxy.

Usage: dns.py --listen ADDR --server URL --ca CA --cert CERT --key KEY [--domain cluster.local]
"""

import argparse
import ipaddress
import json
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.request

A, CNAME, SRV, AAAA = 1, 5, 33, 28


class Records:
    def __init__(self, domain):
        self.domain = domain.strip(".").lower()
        self.lock = threading.Lock()
        self.a = {}        # name -> [ip]
        self.cname = {}    # name -> target
        self.srv = {}      # name -> [(port, target)]
        self.known = set()

    def update(self, services, endpoints):
        a, cname, srv = {}, {}, {}
        eps = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
        for svc in services:
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            spec = svc.get("spec", {})
            fqdn = f"{name}.{ns}.svc.{self.domain}"
            if spec.get("type") == "ExternalName":
                cname[fqdn] = spec.get("externalName", "").strip(".").lower()
                continue
            ep = eps.get((ns, name), {})
            ready = []
            for subset in ep.get("subsets", []) or []:
                for address in subset.get("addresses", []) or []:
                    ready.append(address["ip"])
                    if address.get("hostname"):
                        a.setdefault(f"{address['hostname']}.{fqdn}", []).append(address["ip"])
            cluster_ip = spec.get("clusterIP", "")
            if cluster_ip and cluster_ip != "None":
                a[fqdn] = [cluster_ip]
            else:
                a[fqdn] = ready
            for port in spec.get("ports", []) or []:
                if port.get("name"):
                    proto = port.get("protocol", "TCP").lower()
                    srv[f"_{port['name']}._{proto}.{fqdn}"] = [(port["port"], fqdn)]
        with self.lock:
            self.a, self.cname, self.srv = a, cname, srv
            self.known = set(a) | set(cname) | set(srv)

    def lookup(self, name, qtype):
        """(rcode, [(name, type, rdata bytes)])"""
        name = name.strip(".").lower()
        answers = []
        with self.lock:
            if name.endswith(f".pod.{self.domain}"):
                label = name[: -len(f".pod.{self.domain}")].split(".")
                try:
                    ip = ipaddress.ip_address(label[0].replace("-", ".")) if len(label) == 2 else None
                except ValueError:
                    ip = None
                if ip is None:
                    return 3, []
                if qtype == A and ip.version == 4:
                    answers.append((name, A, ip.packed))
                return 0, answers
            if name in self.cname:
                target = self.cname[name]
                answers.append((name, CNAME, encode_name(target)))
                if qtype == A:
                    for ip in self.a.get(target, []):
                        answers.append((target, A, socket.inet_aton(ip)))
                return 0, answers
            if name in self.a:
                if qtype == A:
                    for ip in self.a[name]:
                        if ":" not in ip:
                            answers.append((name, A, socket.inet_aton(ip)))
                return 0, answers
            if name in self.srv:
                if qtype == SRV:
                    for port, target in self.srv[name]:
                        answers.append((name, SRV, struct.pack("!HHH", 0, 100, port) + encode_name(target)))
                return 0, answers
            # A name that is a suffix of known names exists (empty non-terminal): NODATA, not NXDOMAIN.
            if any(k.endswith("." + name) for k in self.known):
                return 0, []
        return 3, []


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(packet):
    labels, offset = [], 12
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            break
        labels.append(packet[offset:offset + length].decode(errors="replace"))
        offset += length
    qtype, qclass = struct.unpack("!HH", packet[offset:offset + 4])
    return ".".join(labels), qtype, qclass, offset + 4


def answer(records, packet):
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x0100) | 4, 0, 0, 0, 0)
    try:
        name, qtype, qclass, end = parse_question(packet)
    except (IndexError, struct.error):
        return None
    rcode, answers = records.lookup(name, qtype)
    header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1, len(answers), 0, 0)
    body = packet[12:end]
    for rname, rtype, rdata in answers:
        body += encode_name(rname) + struct.pack("!HHIH", rtype, 1, 5, len(rdata)) + rdata
    return header + body


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        reply = answer(self.server.records, data)
        if reply:
            sock.sendto(reply, self.client_address)


class TCPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            (length,) = struct.unpack("!H", head)
            reply = answer(self.server.records, self.rfile.read(length))
            if not reply:
                return
            self.wfile.write(struct.pack("!H", len(reply)) + reply)


class UDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def poll(records, args):
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    while True:
        try:
            items = []
            for path in ("/api/v1/services", "/api/v1/endpoints"):
                with urllib.request.urlopen(args.server + path, context=context, timeout=5) as response:
                    items.append(json.load(response)["items"])
            records.update(*items)
        except Exception as error:  # the API may be restarting; keep the last answers
            print(f"dns: poll failed: {error}", file=sys.stderr, flush=True)
        time.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--domain", default="cluster.local")
    args = parser.parse_args()
    records = Records(args.domain)
    udp = UDPServer((args.listen, args.port), UDPHandler)
    tcp = TCPServer((args.listen, args.port), TCPHandler)
    udp.records = tcp.records = records
    threading.Thread(target=poll, args=(records, args), daemon=True).start()
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    print(f"dns: serving {args.domain} on {args.listen}:{args.port}", flush=True)
    udp.serve_forever()


if __name__ == "__main__":
    main()
