import Foundation
import Testing
import WeftTestSupport

/// An "internet" beside the node: a namespace joined to the node by a veth (node 192.0.2.1, outside
/// 192.0.2.2) with no route back to the pods, so only masqueraded traffic gets an answer.
extension TestNode {
    static let nodeAddress = "192.0.2.1"
    static let outsideAddress = "192.0.2.2"

    @discardableResult
    func addOutside() throws -> String {
        let outside = try addPod("out")
        let outsideName = URL(fileURLWithPath: outside).lastPathComponent
        try exec("ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "downlink0", "netns", outsideName)
        try exec("ip", "addr", "add", "\(Self.nodeAddress)/24", "dev", "uplink0")
        try exec("ip", "link", "set", "uplink0", "up")
        try execIn(outside, "ip", "addr", "add", "\(Self.outsideAddress)/24", "dev", "downlink0")
        try execIn(outside, "ip", "link", "set", "downlink0", "up")
        try execIn(outside, "ip", "link", "set", "lo", "up")
        return outside
    }

    /// A TCP (or UDP) server in a namespace answering each connection with `reply` and the peer's address.
    /// `bind`: the one address it listens on (default: all of the family).
    func serve(in namespacePath: String, port: Int, reply: String, udp: Bool = false, ipv6: Bool = false, bind: String? = nil) throws {
        let listen =
            (udp ? "UDP\(ipv6 ? "6" : "")-RECVFROM:\(port),fork,reuseaddr" : "TCP\(ipv6 ? "6" : "")-LISTEN:\(port),fork,reuseaddr")
            + (ipv6 ? ",ipv6only=1" : "") + (bind.map { ",bind=\($0)" } ?? "")
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        let pid = try spawnProgram(
            "/usr/sbin/ip",
            [
                "netns", "exec", URL(fileURLWithPath: namespacePath).lastPathComponent, "socat", listen,
                "SYSTEM:echo \(reply) peer=$SOCAT_PEERADDR",
            ],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], stdin: null, stdout: null, stderr: null)
        servers.append(pid)
        // Wait until it listens, without sleeping blindly; one that never listens fails the test.
        for _ in 0..<500 {
            let sockets = try execIn(namespacePath, "ss", udp ? "-uln" : "-tln", ipv6 ? "-6" : "-4").stdout
            if sockets.contains(":\(port) ") { return }
            usleep(20_000)
        }
        throw TestFailure("server \(reply) on \(udp ? "UDP" : "TCP") port \(port) never listened")
    }

    /// One request from a namespace ("" for the node itself); returns the server's answer or "".
    func request(from namespacePath: String, to address: String, port: Int, udp: Bool = false, sourcePort: Int? = nil) throws -> String {
        let source = sourcePort.map { ",sourceport=\($0),reuseaddr" } ?? ""
        let target = udp ? "UDP:\(address):\(port)\(source)" : "TCP:\(address):\(port),connect-timeout=2\(source)"
        let namespace = namespacePath.isEmpty ? name : URL(fileURLWithPath: namespacePath).lastPathComponent
        let result = try runProgram(
            "/usr/sbin/ip", ["netns", "exec", namespace, "timeout", "-s", "KILL", "8", "socat", udp ? "-T3" : "-T2", "-", target],
            input: udp ? "ping\n" : "")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A config with masquerade chosen and hostPorts in runtimeConfig, as a runtime passes them.
    func firewallConfig(ipMasq: Bool = true, mappings: String = "", version: String = "1.0.0") -> String {
        let runtime = mappings.isEmpty ? "" : #","runtimeConfig":{"portMappings":[\#(mappings)]}"#
        return config(version: version, extra: runtime, delegate: #""hairpinMode":true,"isDefaultGateway":true,"ipMasq":\#(ipMasq)"#)
    }

    func nftRuleCount() throws -> Int {
        try exec("nft", "list", "table", "inet", "weft").stdout.components(separatedBy: "counter packets").count - 1
    }

    /// A hand-made TCP SYN from `pod`'s eth0 to `destination:port`, framed for the MAC `via` (the
    /// gateway's): what a pod with CAP_NET_RAW can send whatever its routes say. True when a SYN-ACK
    /// came back within 2 s.
    func rawSYNAnswered(from pod: String, source: String, to destination: String, port: Int, via mac: String) throws -> Bool {
        try RawSYN.answered(in: pod, source: source, destination: destination, port: port, gatewayMAC: mac)
    }
}
