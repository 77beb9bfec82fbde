import Foundation
import WeftAddress
import WeftNetlink
import WeftServices
import WeftSystem
import WeftTestSupport

/// A node namespace routing between a client (outside the cluster's pod networks) and two pod
/// namespaces, each on its own veth and subnet; the Services table written into the node by ServiceTable.
/// Servers answer with their name and the peer address they saw (socat's SOCAT_PEERADDR).
final class ServiceLab {
    let id: String
    var node: String { Self.node(id) }
    var servers: [Daemon] = []
    /// Pod networks 10.244.0.0/16 and fd44::/48; the client is 192.168.61.2 / fd61::2, the node 192.168.61.1.
    static let clusterCIDRs = [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!]
    static let nodeAddress = "192.168.61.1"
    static let pods = ["client": ("192.168.61", "fd61::"), "pod1": ("10.244.1", "fd44:0:0:1::"), "pod2": ("10.244.2", "fd44:0:0:2::")]
    let handle: NetlinkHandle
    let table: ServiceTable

    init() throws {
        let id = String(UUID().uuidString.prefix(8)).lowercased()
        self.id = id
        do {
            try Self.build(id)
            handle = NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(Self.node(id))"))
        } catch {
            Self.remove(id)
            throw error
        }
        table = ServiceTable(handle: handle)
    }

    static func node(_ id: String) -> String { "wt-\(id)-snode" }
    static func namespace(_ id: String, _ pod: String) -> String { "wt-\(id)-s\(pod)" }

    static func build(_ id: String) throws {
        let node = node(id)
        try sh("ip netns add \(node)")
        try sh("ip -n \(node) link set lo up")
        try sh("ip netns exec \(node) sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
        for (pod, (net4, net6)) in pods.sorted(by: { $0.key < $1.key }) {
            let ns = namespace(id, pod)
            try sh("ip netns add \(ns)")
            try sh("ip -n \(ns) link set lo up")
            try sh("ip -n \(node) link add h-\(pod) type veth peer name eth0 netns \(ns)")
            try sh("ip -n \(node) addr add \(net4).1/24 dev h-\(pod)")
            try sh("ip -n \(node) addr add \(net6)1/64 dev h-\(pod) nodad")
            try sh("ip -n \(node) link set h-\(pod) up")
            try sh("ip -n \(ns) addr add \(net4).2/24 dev eth0")
            try sh("ip -n \(ns) addr add \(net6)2/64 dev eth0 nodad")
            try sh("ip -n \(ns) link set eth0 up")
            try sh("ip -n \(ns) route add default via \(net4).1")
            try sh("ip -n \(ns) -6 route add default via \(net6)1")
        }
        // The node's own connections to Service addresses need a route before output's DNAT.
        try sh("ip -n \(node) route add default via 192.168.61.2")
        try sh("ip -n \(node) -6 route add default via fd61::2")
    }

    static func remove(_ id: String) {
        for name in pods.keys.map({ namespace(id, $0) }) + [node(id)] { _ = try? sh("ip netns delete \(name)", check: false) }
    }

    func namespace(_ pod: String) -> String { Self.namespace(id, pod) }
    func address(_ pod: String, v6: Bool = false) -> IPAddress {
        let (net4, net6) = Self.pods[pod] ?? ("0.0.0", "::")
        return IPAddress(v6 ? "\(net6)2" : "\(net4).2")!
    }

    var node4: ServiceNode { ServiceNode(nodePortAddresses: [IPAddress(Self.nodeAddress)!, IPAddress("127.0.0.1")!], clusterCIDRs: Self.clusterCIDRs) }

    func write(_ plans: [ServicePortPlan]) throws {
        try table.write(ServiceRuleset.image(plans, node: node4))
    }

    /// A server answering `<pod> <peer address>` on TCP or UDP, both families, checked to listen.
    func serve(_ pod: String, port: Int, udp: Bool = false) throws {
        for (listen, six) in [(udp ? "UDP4-RECVFROM" : "TCP4-LISTEN", false), (udp ? "UDP6-RECVFROM" : "TCP6-LISTEN", true)] {
            servers.append(
                try Daemon(
                    [
                        "/usr/sbin/ip", "netns", "exec", namespace(pod), "socat", "\(listen):\(port),fork,reuseaddr\(six ? ",ipv6only=1" : "")",
                        "SYSTEM:echo \(pod) $SOCAT_PEERADDR",
                    ],
                    logPath: "/dev/null"))
        }
        let listening = waitUntil(timeout: 10) {
            let sockets = (try? sh("ip netns exec \(namespace(pod)) ss -ln\(udp ? "u" : "t")", check: false)) ?? ""
            return sockets.contains("0.0.0.0:\(port)") && sockets.contains("[::]:\(port)")
        }
        if listening == nil { throw TestFailure("\(pod)'s server on \(udp ? "UDP" : "TCP") port \(port) never listened") }
    }

    /// A TCP connection's outcome from `pod`'s namespace (the node's when nil): the server's line, or
    /// "refused", "timeout", "unreachable".
    func connect(from pod: String?, to address: String, port: Int, timeout: Int = 3, sourcePort: Int? = nil) throws -> String {
        let ns = pod.map(namespace) ?? node
        let family = address.contains(":") ? "socket.AF_INET6" : "socket.AF_INET"
        let bind = sourcePort.map { "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', \($0)))" } ?? "pass"
        let script = """
            import socket
            s = socket.socket(\(family), socket.SOCK_STREAM)
            s.settimeout(\(timeout))
            \(bind)
            try:
                s.connect(('\(address)', \(port)))
                print(s.recv(200).decode().strip())
            except ConnectionRefusedError:
                print('refused')
            except socket.timeout:
                print('timeout')
            except OSError as e:
                print('unreachable', e)
            """
        return try sh("ip netns exec \(ns) timeout -s KILL \(timeout + 5) python3 -c \"$0\" ", input: "", check: false, script: script)
    }

    /// One UDP datagram from `pod` and the answer ("" when none came).
    func udp(from pod: String, to address: String, port: Int, sourcePort: Int) throws -> String {
        let family = address.contains(":") ? "socket.AF_INET6" : "socket.AF_INET"
        let script = """
            import socket
            s = socket.socket(\(family), socket.SOCK_DGRAM)
            s.settimeout(3)
            s.bind(('', \(sourcePort)))
            s.sendto(b'ping', ('\(address)', \(port)))
            try:
                print(s.recv(200).decode().strip())
            except socket.timeout:
                print('')
            """
        return try sh("ip netns exec \(namespace(pod)) timeout -s KILL 8 python3 -c \"$0\" ", input: "", check: false, script: script)
    }

    /// The first word of the answer: which pod served.
    static func server(_ answer: String) -> String { String(answer.split(separator: " ").first ?? "") }
    /// The second: the source address the server saw.
    static func peer(_ answer: String) -> String { answer.split(separator: " ").dropFirst().first.map(String.init) ?? "" }

    func cleanup() {
        for server in servers { _ = server.stop(SIGTERM) }
        Self.remove(id)
    }
}

/// `sh` with a script passed as $0 of `bash -c`, so its quotes need no escaping.
func sh(_ command: String, input: String, check: Bool, script: String) throws -> String {
    let result = try runProgram("/bin/bash", ["-c", command, script], input: input)
    if check, result.status != 0 { throw TestFailure("\(command): \(result.stderr)") }
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
