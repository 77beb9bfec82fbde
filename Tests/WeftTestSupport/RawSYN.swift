import Foundation

/// A hand-made TCP SYN from a pod's eth0, framed for the gateway's MAC: what a pod with CAP_NET_RAW
/// can send whatever its routes say (to the node's 127.0.0.1, say). The firewall and kube-proxy
/// loopback tests send it to see the node drop what no route would have delivered.
public enum RawSYN {
    /// Sends the SYN from the network namespace at `namespace` (a path, as `TestNamespace.path` gives)
    /// and waits up to 2 s: true when a SYN-ACK came back, false when none did.
    public static func answered(in namespace: String, source: String, destination: String, port: Int, gatewayMAC: String) throws -> Bool {
        let result = try runProgram(
            "/usr/bin/nsenter", ["--net=\(namespace)", "/usr/bin/python3", "-c", script, "eth0", source, destination, String(port), gatewayMAC])
        let answer = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard ["SYNACK", "NONE"].contains(answer) else { throw TestFailure("raw SYN sender failed: \(result.stdout) \(result.stderr)") }
        return answer == "SYNACK"
    }

    /// Prints SYNACK when one came back within 2 s, else NONE. Arguments: interface, source,
    /// destination, port, gateway MAC.
    static let script = #"""
        import socket, struct, sys, time, random
        iface, src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        dmac = bytes.fromhex(sys.argv[5].replace(':', ''))
        def csum(b):
            if len(b) % 2: b += b'\0'
            s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
            while s >> 16: s = (s & 0xffff) + (s >> 16)
            return ~s & 0xffff
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        s.bind((iface, 0))
        smac = s.getsockname()[4]
        sport = random.randint(20000, 60000)
        tcp = struct.pack('!HHIIBBHHH', sport, port, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        s.send(dmac + smac + b'\x08\x00' + ip + tcp)
        s.settimeout(0.2)
        deadline = time.time() + 2
        while time.time() < deadline:
            try:
                frame = s.recv(2048)
            except socket.timeout:
                continue
            h = frame[14:]
            if len(h) < 40 or h[9] != 6 or h[12:16] != socket.inet_aton(dst): continue
            ihl = (h[0] & 15) * 4
            sp, dp = struct.unpack('!HH', h[ihl:ihl + 4])
            if sp == port and dp == sport and h[ihl + 13] & 0x12 == 0x12:
                print('SYNACK'); sys.exit(0)
        print('NONE')
        """#
}
