import Foundation
import Testing
import WeftAddress
import WeftAgent
import WeftNetlink
import WeftNftables
import WeftSystem
import Yams
import WeftTestSupport
@testable import WeftPolicy

/// The compiled table in a real kernel: a node namespace routing between three pod namespaces (each
/// on its own veth and subnet, so pod-to-pod traffic crosses the node's forward hook as it does on
/// the routed datapath, and on the bridge with br_netfilter), real TCP and UDP through socat.
@Suite(.serialized, .privileged)
struct PolicyEnforcementTests {
    static let pods = """
        metadata: {name: web, namespace: prod, labels: {app: web}}
        spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
        status: {podIPs: [{ip: 10.51.0.2}, {ip: "fd51::2"}]}
        ---
        metadata: {name: client, namespace: prod, labels: {role: client}}
        spec: {containers: [{name: c}]}
        status: {podIPs: [{ip: 10.52.0.2}, {ip: "fd52::2"}]}
        ---
        metadata: {name: other, namespace: prod, labels: {role: other}}
        spec: {containers: [{name: o}]}
        status: {podIPs: [{ip: 10.53.0.2}, {ip: "fd53::2"}]}
        """
    static let policies = """
        metadata: {name: web-from-clients, namespace: prod}
        spec:
          podSelector: {matchLabels: {app: web}}
          ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: http}]}]
        ---
        metadata: {name: other-only-dns-outside, namespace: prod}
        spec:
          podSelector: {matchLabels: {role: other}}
          policyTypes: [Egress]
          egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.51.0.0/16, 10.52.0.0/16]}}], ports: [{protocol: UDP, port: 53}]}]
        """

    final class Lab {
        let id = TestNamespace.uniqueID()
        var node: String { "wt-\(id)-pnode" }
        var servers: [Daemon] = []

        init() throws {
            try TestNamespace.add(node)
            try sh("ip netns exec \(node) sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
            for (index, pod) in ["web", "client", "other"].enumerated() {
                let ns = namespace(pod), net = 51 + index
                try TestNamespace.add(ns)
                try sh("ip -n \(node) link add h-\(pod) type veth peer name eth0 netns \(ns)")
                try sh("ip -n \(node) addr add 10.\(net).0.1/24 dev h-\(pod)")
                try sh("ip -n \(node) addr add fd\(net)::1/64 dev h-\(pod) nodad")
                try sh("ip -n \(node) link set h-\(pod) up")
                try sh("ip -n \(ns) addr add 10.\(net).0.2/24 dev eth0")
                try sh("ip -n \(ns) addr add fd\(net)::2/64 dev eth0 nodad")
                try sh("ip -n \(ns) link set eth0 up")
                try sh("ip -n \(ns) route add default via 10.\(net).0.1")
                try sh("ip -n \(ns) -6 route add default via fd\(net)::1")
            }
        }

        func namespace(_ pod: String) -> String { "wt-\(id)-p\(pod)" }

        func serve(_ pod: String, port: Int, udp: Bool = false) throws {
            for (listen, label) in [(udp ? "UDP4-RECVFROM" : "TCP4-LISTEN", "4"), (udp ? "UDP6-RECVFROM" : "TCP6-LISTEN", "6")] {
                servers.append(
                    try Daemon(
                        [
                            "/usr/sbin/ip", "netns", "exec", namespace(pod), "socat",
                            "\(listen):\(port),fork,reuseaddr\(label == "6" ? ",ipv6only=1" : "")", "SYSTEM:echo \(pod)",
                        ],
                        logPath: "/dev/null"))
            }
            // Listening, both families (a loaded machine may take longer than any fixed pause).
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let listening = (try? sh("ip netns exec \(namespace(pod)) ss -ln\(udp ? "u" : "t")", check: false)) ?? ""
                if listening.contains("0.0.0.0:\(port)") && listening.contains("[::]:\(port)") { return }
                usleep(20_000)
            }
            throw LabFailure(description: "\(pod)'s server on \(udp ? "UDP" : "TCP") port \(port) never listened")
        }

        /// The server's answer, or "" when the connection was refused, dropped or timed out.
        /// `timeout`: seconds socat waits (a denial waits it out; an expected answer may be slow on a loaded machine).
        func request(from pod: String?, to address: String, port: Int, udp: Bool = false, timeout: Int = 1) throws -> String {
            let target = address.contains(":") ? "[\(address)]" : address
            let ns = pod.map(namespace) ?? node
            let connect = udp ? "UDP:\(target):\(port)" : "TCP:\(target):\(port),connect-timeout=\(timeout)"
            return try sh("ip netns exec \(ns) timeout -s KILL \(timeout + 3) socat -T\(timeout) - \(connect)", input: udp ? "ping\n" : "", check: false)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// `request` where an answer is expected: tried up to three times, as a loaded machine may lose
        /// the first neighbour solicitation past the one-second connect timeout.
        func answer(from pod: String?, to address: String, port: Int, udp: Bool = false) throws -> String {
            for _ in 1..<3 {
                let reply = try request(from: pod, to: address, port: port, udp: udp, timeout: 3)
                if !reply.isEmpty { return reply }
            }
            return try request(from: pod, to: address, port: port, udp: udp, timeout: 3)
        }

        func install(_ image: NftTableImage) throws {
            try client().replace(image)
        }

        /// An NftClient bound to the node namespace (the socket stays in the namespace it was opened in).
        func client() throws -> NftClient {
            NftClient(handle: NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(node)")))
        }

        /// The table as the kernel holds it, comparable across namespaces: each chain's rules as nft
        /// prints them, each set's keys sorted.
        func contents(_ image: NftTableImage) throws -> [String] {
            let client = try client()
            var lines: [String] = []
            for chain in image.baseChains.map(\.name) + image.regularChains {
                lines.append(
                    try sh("ip netns exec \(node) nft list chain inet \(image.name) \(chain)")
                        .replacingOccurrences(of: "counter packets [0-9]+ bytes [0-9]+", with: "counter", options: .regularExpression))
            }
            for set in image.sets.map(\.name) {
                lines.append(
                    "\(set): "
                        + (try client.keys(table: image.name, set: set)).map { $0.map(String.init).joined(separator: ".") }.sorted().joined(separator: " "))
            }
            return lines
        }

        func cleanup() {
            for server in servers { server.stop(SIGTERM) }
            for name in ["web", "client", "other"].map(namespace) + [node] { TestNamespace.delete(name) }
        }
    }

    static func compile(_ policyYAML: String, extraPods: String = "") throws -> CompiledPolicies {
        let pods = try Yams.load_all(yaml: Self.pods + extraPods).map { try PolicyPod(json: $0 as Any) }
        let policies = try Yams.load_all(yaml: policyYAML).map { try NetworkPolicy(json: $0 as Any) }
        return PolicyCompiler.compile(policies: policies, pods: pods, namespaces: [PolicyNamespace(name: "prod")])
    }

    @Test func onlyWhatAPolicyAllowsPassesAndRepliesAlwaysDo() throws {
        let lab = try Lab()
        defer { lab.cleanup() }
        try lab.serve("web", port: 8080)
        try lab.serve("web", port: 9090)
        try lab.serve("client", port: 7000)
        try lab.serve("client", port: 53, udp: true)
        // Open before any policy.
        #expect(try lab.answer(from: "other", to: "10.51.0.2", port: 8080) == "web")

        try lab.install(PolicyRuleset.image(try Self.compile(Self.policies)))
        let listing = try sh("ip netns exec \(lab.node) nft list table inet weft-policy")
        #expect(listing.contains("ip daddr vmap @ingress4") && listing.contains("ct state established,related accept"), "\(listing)")
        for web in ["10.51.0.2", "fd51::2"] {
            #expect(try lab.answer(from: "client", to: web, port: 8080) == "web", "a client to the named port http, \(web)")
            #expect(try lab.request(from: "client", to: web, port: 9090) == "", "a client to a port no policy names, \(web)")
            #expect(try lab.request(from: "other", to: web, port: 8080) == "", "not a client, \(web)")
            #expect(try lab.answer(from: nil, to: web, port: 9090) == "web", "the node is never filtered, \(web)")
        }
        #expect(try lab.answer(from: "web", to: "10.52.0.2", port: 7000) == "client", "web's egress is not isolated; the reply passes web's ingress")
        #expect(try lab.request(from: "other", to: "10.52.0.2", port: 7000) == "", "other's egress: UDP 53 outside 10.51/16 and 10.52/16 only")
        #expect(try lab.request(from: "other", to: "10.52.0.2", port: 53, udp: true) == "", "10.52.0.0/16 is an except")
        #expect(try lab.request(from: "other", to: "fd52::2", port: 7000) == "", "no IPv6 block allowed either")

        // Rewritten without the policies: open again, in one transaction.
        try lab.install(PolicyRuleset.image(try Self.compile("")))
        #expect(try lab.answer(from: "other", to: "10.51.0.2", port: 8080) == "web")
        #expect(try lab.answer(from: "other", to: "10.52.0.2", port: 7000) == "client")
        // The positive controls of the denials above, from the same source.
        #expect(try lab.answer(from: "other", to: "10.52.0.2", port: 53, udp: true) == "client")
        #expect(try lab.answer(from: "other", to: "fd52::2", port: 7000) == "client")
    }
}

extension PolicyEnforcementTests {
    static let morePolicies =
        policies + """

            ---
            metadata: {name: web-9090-from-clients, namespace: prod}
            spec:
              podSelector: {matchLabels: {app: web}}
              ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: 9090}]}]
            """

    /// A change written as a diff leaves the kernel exactly as a whole rewrite would, and enforces the same.
    @Test func diffsLandAsWholeRewritesWould() throws {
        let lab = try Lab(), fresh = try Lab()
        defer { lab.cleanup(); fresh.cleanup() }
        try lab.serve("web", port: 8080)
        try lab.serve("web", port: 9090)
        let client = try lab.client()
        let first = PolicyRuleset.image(try Self.compile(Self.policies))
        #expect(try client.update(from: nil, to: first), "no previous table: written whole")
        // One more policy selecting web: a new chain for web, new sets, web's verdicts moved to it.
        let second = PolicyRuleset.image(try Self.compile(Self.morePolicies))
        #expect(try !client.update(from: first, to: second), "written as a diff")
        try fresh.install(second)
        #expect(try lab.contents(second) == fresh.contents(second))
        #expect(try lab.answer(from: "client", to: "10.51.0.2", port: 9090) == "web", "the new policy lets clients in on 9090")
        #expect(try lab.answer(from: "client", to: "fd51::2", port: 8080) == "web", "as well as on http")
        #expect(try lab.answer(from: nil, to: "10.51.0.2", port: 9090) == "web")
        // A second client next to the first: their interval grows (deleted and added whole).
        let secondClient = """

            ---
            metadata: {name: client2, namespace: prod, labels: {role: client}}
            spec: {containers: [{name: c}]}
            status: {podIPs: [{ip: 10.52.0.3}]}
            """
        let grown = PolicyRuleset.image(try Self.compile(Self.morePolicies, extraPods: secondClient))
        #expect(try !client.update(from: second, to: grown))
        try fresh.install(grown)
        #expect(try lab.contents(grown) == fresh.contents(grown))
        #expect(try lab.answer(from: "client", to: "10.51.0.2", port: 9090) == "web")
        #expect(try !client.update(from: grown, to: second))
        // And back: the chain and sets of the removed policy are deleted.
        #expect(try !client.update(from: second, to: first))
        try fresh.install(first)
        #expect(try lab.contents(first) == fresh.contents(first))
        let listing = try sh("ip netns exec \(lab.node) nft list table inet weft-policy")
        for chain in Set(second.regularChains).subtracting(first.regularChains) { #expect(!listing.contains(chain), "\(chain) left behind") }
        #expect(try lab.request(from: "client", to: "10.51.0.2", port: 9090) == "")
        // Nothing changed: nothing sent.
        #expect(try !client.update(from: first, to: first))
        // The table flushed behind weftd's back: the refused diff becomes a whole rewrite.
        try sh("ip netns exec \(lab.node) nft delete table inet weft-policy")
        #expect(try client.update(from: first, to: second))
        try fresh.install(second)
        #expect(try lab.contents(second) == fresh.contents(second))
        #expect(try lab.answer(from: "client", to: "10.51.0.2", port: 9090) == "web")
    }

    /// The plugin's isolation while weftd cannot answer: every packet to or from the pod dropped (the node
    /// itself still reaches it), several ADDs adding theirs without undoing another's, DEL letting go.
    @Test func isolatedPodsPassNothingUntilReleased() throws {
        let lab = try Lab()
        defer { lab.cleanup() }
        try lab.serve("web", port: 8080)
        try lab.serve("client", port: 7000)
        let client = try lab.client()
        try PodIsolation.isolate([IPAddress("10.51.0.2")!, IPAddress("fd51::2")!], client: client)
        try PodIsolation.isolate([IPAddress("10.53.0.2")!], client: client)
        #expect(Set(try PodIsolation.isolated(client: client)) == [IPAddress("10.51.0.2")!, IPAddress("fd51::2")!, IPAddress("10.53.0.2")!])
        #expect(try lab.request(from: "client", to: "10.51.0.2", port: 8080) == "")
        #expect(try lab.request(from: "client", to: "fd51::2", port: 8080) == "")
        #expect(try lab.request(from: "web", to: "10.52.0.2", port: 7000) == "", "nor out")
        #expect(try lab.answer(from: nil, to: "10.51.0.2", port: 8080) == "web", "the node is not filtered")
        try PodIsolation.release([IPAddress("10.51.0.2")!, IPAddress("fd51::2")!], client: client)
        try PodIsolation.release([IPAddress("10.51.0.2")!], client: client)  // again: nothing to do, no error
        #expect(try PodIsolation.isolated(client: client) == [IPAddress("10.53.0.2")!])
        #expect(try lab.answer(from: "client", to: "10.51.0.2", port: 8080) == "web")
        #expect(try lab.answer(from: "client", to: "fd51::2", port: 8080) == "web")
        #expect(try lab.answer(from: "web", to: "10.52.0.2", port: 7000) == "client", "the control of \"nor out\"")
    }
}

extension PolicyEnforcementTests {
    /// Two pods on one bridge with br_netfilter (the bridge datapath with networkPolicy), IPv6 only and
    /// no static neighbour entries: neighbour discovery between them crosses the forward chains. `other`
    /// is isolated for egress and `web` for ingress, each allowing the other on 8080 alone.
    @Test func neighbourDiscoveryPassesOnABridgeWhereAPolicyAllows() throws {
        let id = TestNamespace.uniqueID()
        let node = "wt-\(id)-bnode", web = "wt-\(id)-bweb", other = "wt-\(id)-bother"
        var servers: [Daemon] = []
        defer {
            for server in servers { server.stop(SIGTERM) }
            for name in [web, other, node] { TestNamespace.delete(name) }
        }
        try TestNamespace.add(node)
        try sh("ip -n \(node) link add br0 type bridge && ip -n \(node) link set br0 up")
        try sh("ip netns exec \(node) sysctl -qw net.bridge.bridge-nf-call-ip6tables=1")
        for (ns, address) in [(web, "fd60::2"), (other, "fd60::3")] {
            try TestNamespace.add(ns)
            try sh("ip -n \(node) link add h-\(ns.suffix(5)) type veth peer name eth0 netns \(ns)")
            try sh("ip -n \(node) link set h-\(ns.suffix(5)) master br0 up")
            try sh("ip -n \(ns) addr add \(address)/64 dev eth0 nodad && ip -n \(ns) link set eth0 up")
        }
        for port in [8080, 9090] {
            servers.append(
                try Daemon(
                    [
                        "/usr/sbin/ip", "netns", "exec", web, "socat", "TCP6-LISTEN:\(port),fork,reuseaddr,ipv6only=1",
                        "SYSTEM:echo web",
                    ], logPath: "/dev/null"))
        }
        let deadline = Date().addingTimeInterval(10)
        while !((try? sh("ip netns exec \(web) ss -ltn", check: false)) ?? "").contains("[::]:9090") {
            guard Date() < deadline else { throw LabFailure(description: "web's servers never listened") }
            usleep(20_000)
        }
        let pods = """
            metadata: {name: web, namespace: prod, labels: {app: web}}
            spec: {containers: [{name: web}]}
            status: {podIPs: [{ip: "fd60::2"}]}
            ---
            metadata: {name: other, namespace: prod, labels: {role: other}}
            spec: {containers: [{name: o}]}
            status: {podIPs: [{ip: "fd60::3"}]}
            """
        let policies = """
            metadata: {name: other-to-web, namespace: prod}
            spec:
              podSelector: {matchLabels: {role: other}}
              policyTypes: [Egress]
              egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}]
            ---
            metadata: {name: web-from-other, namespace: prod}
            spec:
              podSelector: {matchLabels: {app: web}}
              ingress: [{from: [{podSelector: {matchLabels: {role: other}}}], ports: [{port: 8080}]}]
            """
        let compiled = PolicyCompiler.compile(
            policies: try Yams.load_all(yaml: policies).map { try NetworkPolicy(json: $0 as Any) },
            pods: try Yams.load_all(yaml: pods).map { try PolicyPod(json: $0 as Any) },
            namespaces: [PolicyNamespace(name: "prod")])
        try NftClient(handle: NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(node)"))).replace(PolicyRuleset.image(compiled))
        func request(_ port: Int) throws -> String {
            try sh("ip netns exec \(other) timeout -s KILL 4 socat -T1 - TCP:[fd60::2]:\(port),connect-timeout=1", check: false)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var reply = ""
        for _ in 0..<3 where reply.isEmpty { reply = try request(8080) }
        #expect(reply == "web", "other resolves web and reaches it on the allowed port")
        #expect(try request(9090) == "", "and on no other: the policy is in force")
        let neighbours = try sh("ip -n \(other) -6 neigh show dev eth0")
        #expect(neighbours.contains("fd60::2") && !neighbours.contains("PERMANENT"), "learned by discovery: \(neighbours)")
    }
}

struct LabFailure: Error, CustomStringConvertible { let description: String }
