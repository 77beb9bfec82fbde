import Foundation
import Testing
import WeftAddress
import WeftNetlink
import WeftNftables
import WeftServices
import WeftSystem
import WeftTestSupport

/// The Services table in a real kernel: real TCP and UDP connections through ClusterIPs, NodePorts,
/// external and load-balancer addresses (ServiceLab).
@Suite(.serialized, .privileged)
struct ServiceDatapathTests {
    static func plan(
        _ name: String, _ clusterIP: String, port: UInt16 = 80, endpoints: [(String, Bool)], family: IPAddress.Family = .v4,
        transport: TransportProtocol = .tcp
    ) -> ServicePortPlan {
        ServicePortPlan(
            namespace: "prod", name: name, transport: transport, family: family, clusterIP: IPAddress(clusterIP), port: port,
            endpoints: endpoints.map { EndpointPlan(address: IPAddress($0.0)!, port: 8080, isLocal: $0.1) }.sorted())
    }

    @Test func aClusterIPReachesEveryEndpointInBothFamiliesMasqueradedFromOutsideTheCluster() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        try lab.serve("pod2", port: 8080)
        try lab.write([
            Self.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true), ("10.244.2.2", true)]),
            Self.plan("web", "fd96::10", endpoints: [("fd44:0:0:1::2", true), ("fd44:0:0:2::2", true)], family: .v6),
        ])
        for address in ["10.96.0.10", "fd96::10"] {
            var served = Set<String>(), peers = Set<String>()
            for _ in 0..<30 where served.count < 2 {
                let answer = try lab.connect(from: "client", to: address, port: 80)
                served.insert(ServiceLab.server(answer))
                peers.insert(ServiceLab.peer(answer))
            }
            #expect(served == ["pod1", "pod2"], "\(address): \(served)")
            #expect(!peers.contains(lab.address("client", v6: address.contains(":")).description), "masqueraded from outside the pod networks: \(peers)")
        }
        // A pod (inside the cluster's networks) keeps its address.
        let fromPod = try lab.connect(from: "pod2", to: "10.96.0.10", port: 80)
        #expect(ServiceLab.server(fromPod) == "pod1" ? ServiceLab.peer(fromPod) == "10.244.2.2" : ServiceLab.peer(fromPod) != "", "\(fromPod)")
    }

    @Test func aServiceWithoutEndpointsIsRefusedAtOnce() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        try lab.write([
            Self.plan("empty", "10.96.0.11", endpoints: []),
            Self.plan("empty", "fd96::11", endpoints: [], family: .v6),
            Self.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true)]),
        ])
        #expect(ServiceLab.server(try lab.connect(from: "client", to: "10.96.0.10", port: 80)) == "pod1", "the positive control")
        #expect(try lab.connect(from: "client", to: "10.96.0.11", port: 80) == "refused")
        #expect(try lab.connect(from: "client", to: "fd96::11", port: 80) == "refused")
        #expect(try lab.connect(from: nil, to: "10.96.0.11", port: 80) == "refused", "from the node itself (output)")
    }

    @Test func aNodePortAnswersOnTheNodesAddressAndNotOnLoopback() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        var plan = Self.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true)])
        plan.nodePort = 30080
        try lab.write([plan])
        #expect(ServiceLab.server(try lab.connect(from: "client", to: ServiceLab.nodeAddress, port: 30080)) == "pod1")
        #expect(ServiceLab.server(try lab.connect(from: nil, to: ServiceLab.nodeAddress, port: 30080)) == "pod1", "the node to its own address")
        #expect(try lab.connect(from: nil, to: "127.0.0.1", port: 30080) == "refused", "never on 127.0.0.1")
    }

    @Test func externalAndLoadBalancerAddressesWithSourceRanges() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        var plan = Self.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true)])
        plan.externalIPs = [IPAddress("192.168.70.10")!]
        plan.loadBalancerIPs = [IPAddress("192.168.70.20")!]
        plan.loadBalancerSourceRanges = [IPNetwork("10.244.2.0/24")!]
        try lab.write([plan])
        #expect(ServiceLab.server(try lab.connect(from: "client", to: "192.168.70.10", port: 80)) == "pod1", "external IP")
        #expect(ServiceLab.server(try lab.connect(from: "pod2", to: "192.168.70.20", port: 80)) == "pod1", "load balancer from an allowed source")
        #expect(try lab.connect(from: "client", to: "192.168.70.20", port: 80, timeout: 2) == "timeout", "a source outside the ranges is dropped")
        #expect(ServiceLab.server(try lab.connect(from: "client", to: "10.96.0.10", port: 80)) == "pod1", "the same client's positive control")
    }

    @Test func clientIPAffinityKeepsOneEndpointAndExpires() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        try lab.serve("pod2", port: 8080)
        var plan = Self.plan("sticky", "10.96.0.12", endpoints: [("10.244.1.2", true), ("10.244.2.2", true)])
        plan.affinitySeconds = 2
        try lab.write([plan])
        var served = Set<String>()
        for _ in 0..<12 { served.insert(ServiceLab.server(try lab.connect(from: "client", to: "10.96.0.12", port: 80))) }
        #expect(served.count == 1, "\(served)")
        func affinityElements() throws -> String {
            try sh("ip netns exec \(lab.node) nft list sets table inet \(ServiceRuleset.table)")
        }
        #expect(try affinityElements().contains("192.168.61.2"), "the client's element")
        // Gone from a listing that succeeded and still shows the table (a failed nft is not "gone").
        let gone = waitUntil(timeout: 10) {
            guard let text = try? affinityElements() else { return false }
            return text.contains("table inet \(ServiceRuleset.table)") && !text.contains("192.168.61.2")
        }
        #expect(gone != nil, "the element expires after its 2 s")
    }

    @Test func localPolicyKeepsTheClientsAddressAndClusterPolicyMasquerades() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        var local = Self.plan("local", "10.96.0.13", endpoints: [("10.244.1.2", true)])
        local.externalTrafficLocal = true
        local.externalIPs = [IPAddress("192.168.70.13")!]
        var cluster = Self.plan("cluster", "10.96.0.14", endpoints: [("10.244.1.2", true)])
        cluster.externalIPs = [IPAddress("192.168.70.14")!]
        try lab.write([local, cluster])
        let kept = try lab.connect(from: "client", to: "192.168.70.13", port: 80)
        #expect(ServiceLab.peer(kept) == "192.168.61.2", "Local: the server sees the client: \(kept)")
        let masqueraded = try lab.connect(from: "client", to: "192.168.70.14", port: 80)
        #expect(ServiceLab.server(masqueraded) == "pod1" && ServiceLab.peer(masqueraded) == "10.244.1.1", "Cluster: masqueraded to the node: \(masqueraded)")
    }

    @Test func anEndpointReachesItsOwnServiceMasqueraded() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080)
        try lab.write([Self.plan("self", "10.96.0.15", endpoints: [("10.244.1.2", true)])])
        let answer = try lab.connect(from: "pod1", to: "10.96.0.15", port: 80)
        #expect(ServiceLab.server(answer) == "pod1" && ServiceLab.peer(answer) == "10.244.1.1", "hairpin, source masqueraded: \(answer)")
    }

    @Test func staleUDPFlowsToARemovedEndpointAreDeletedAndOthersKept() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080, udp: true)
        try lab.serve("pod2", port: 8080, udp: true)
        let both = Self.plan("dns", "10.96.0.53", port: 53, endpoints: [("10.244.1.2", true), ("10.244.2.2", true)], transport: .udp)
        try lab.write([both])
        var bySource: [String: Int] = [:]
        for source in 40000..<40030 where Set(bySource.keys).count < 2 {
            let server = ServiceLab.server(try lab.udp(from: "client", to: "10.96.0.53", port: 53, sourcePort: source))
            if bySource[server] == nil, !server.isEmpty { bySource[server] = source }
        }
        #expect(Set(bySource.keys) == ["pod1", "pod2"], "\(bySource)")
        var one = both
        one.endpoints = one.endpoints.filter { $0.address == IPAddress("10.244.1.2")! }
        try lab.write([one])
        let deleted = try lab.table.deleteStale([StaleFlow(frontend: IPAddress("10.96.0.53")!, port: 53, endpoint: IPAddress("10.244.2.2")!)])
        #expect(deleted >= 1)
        let flows = try sh("ip netns exec \(lab.node) conntrack -L -p udp --orig-dst 10.96.0.53 2>/dev/null", check: false)
        #expect(!flows.contains("src=10.244.2.2"), "the removed endpoint's flows are gone: \(flows)")
        #expect(flows.contains("src=10.244.1.2"), "the kept endpoint's flows stay: \(flows)")
    }

    @Test func kubeProxysRulesAreDetectedAndAnEmptyNodeHasNone() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        #expect(try ServiceTable.kubeProxyRules(handle: lab.handle) == [])
        try sh("ip netns exec \(lab.node) nft add table ip kube-proxy")
        try sh("ip netns exec \(lab.node) nft add table ip nat")
        try sh("ip netns exec \(lab.node) nft add chain ip nat KUBE-SERVICES")
        let found = try ServiceTable.kubeProxyRules(handle: lab.handle)
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.contains("nft delete table ip kube-proxy") })
        #expect(found.contains { $0.contains("KUBE-SERVICES in ip nat") })
    }

    /// The kernel's dump filter sends back one endpoint's UDP entries only; deleting one endpoint's
    /// flows through it leaves the other endpoint's (the positive control, from the same dump).
    @Test func theFilteredDumpReadsOneEndpointsUDPEntriesAndDeletesOnlyItsFlows() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080, udp: true)
        try lab.serve("pod2", port: 8080, udp: true)
        let (pod1, pod2) = (IPAddress("10.244.1.2")!, IPAddress("10.244.2.2")!)
        try lab.write([Self.plan("dns", "10.96.0.53", port: 53, endpoints: [("10.244.1.2", true), ("10.244.2.2", true)], transport: .udp)])
        var servers = Set<String>()
        for source in 41000..<41040 where servers.count < 2 {
            let server = ServiceLab.server(try lab.udp(from: "client", to: "10.96.0.53", port: 53, sourcePort: source))
            if !server.isEmpty { servers.insert(server) }
        }
        #expect(servers == ["pod1", "pod2"], "\(servers)")
        // A TCP connection to the same endpoint: the protocol filter leaves it out.
        try lab.serve("pod2", port: 8080)
        try lab.write([
            Self.plan("dns", "10.96.0.53", port: 53, endpoints: [("10.244.1.2", true), ("10.244.2.2", true)], transport: .udp),
            Self.plan("web", "10.96.0.10", endpoints: [("10.244.2.2", true)]),
        ])
        _ = try lab.connect(from: "client", to: "10.96.0.10", port: 80)
        let conntrack = Conntrack(handle: lab.handle)
        let filtered = try conntrack.entries(ConntrackFilter(family: .v4, proto: 17, replySource: pod2))
        #expect(!filtered.isEmpty && filtered.allSatisfy { $0.proto == 17 && $0.replySource == pod2 }, "\(filtered)")
        let all = try conntrack.entries(family: .v4)
        #expect(all.contains { $0.proto == 6 && $0.replySource == pod2 } && all.contains { $0.proto == 17 && $0.replySource == pod1 }, "\(all)")
        let deleted = try lab.table.deleteStale([StaleFlow(frontend: IPAddress("10.96.0.53")!, port: 53, endpoint: pod2)])
        #expect(deleted == filtered.count)
        let after = try conntrack.entries(family: .v4).filter { $0.proto == 17 }
        #expect(!after.contains { $0.replySource == pod2 }, "the removed endpoint's flows are gone: \(after)")
        #expect(after.contains { $0.replySource == pod1 }, "the kept endpoint's flows stay: \(after)")
    }

    /// A restart: a new ServiceTable reads the table the previous one left before its first write; the
    /// UDP flows of a Service deleted in between are found through it and deleted, a kept Service's stay.
    @Test func aServiceDeletedWhileNoWeftdRanLosesItsUDPFlowsOnTheFirstTable() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        try lab.serve("pod1", port: 8080, udp: true)
        try lab.serve("pod2", port: 8080, udp: true)
        let kept = Self.plan("kept", "10.96.0.53", port: 53, endpoints: [("10.244.1.2", true)], transport: .udp)
        let deleted = Self.plan("deleted", "10.96.0.54", port: 53, endpoints: [("10.244.2.2", true)], transport: .udp)
        try lab.write([kept, deleted])
        // A datagram may go unanswered (the server not yet reading): another source port, another flow.
        func answer(_ address: String, from ports: Range<Int>) throws -> String {
            for port in ports {
                let server = ServiceLab.server(try lab.udp(from: "client", to: address, port: 53, sourcePort: port))
                if !server.isEmpty { return server }
            }
            return ""
        }
        #expect(try answer("10.96.0.53", from: 42000..<42010) == "pod1")
        #expect(try answer("10.96.0.54", from: 42010..<42020) == "pod2")
        let restarted = ServiceTable(handle: lab.handle)
        try restarted.write(ServiceRuleset.image([kept], node: lab.node4))
        #expect(restarted.inherited?.map(\.service).sorted() == ["prod/deleted", "prod/kept"], "\(String(describing: restarted.inherited))")
        let conntrack = Conntrack(handle: lab.handle)
        let udp = try conntrack.entries(family: .v4).filter { $0.proto == 17 }
            .map { StaleFlow(frontend: $0.originalDestination, port: $0.originalDestinationPort, endpoint: $0.replySource) }
        let vanished = ServiceFlows.vanished(udp, inherited: restarted.inherited ?? [], plans: [kept], node: lab.node4)
        #expect(vanished == [StaleFlow(frontend: IPAddress("10.96.0.54")!, port: 53, endpoint: IPAddress("10.244.2.2")!)], "\(udp)")
        #expect(try restarted.deleteStale(vanished) >= 1)
        let after = try conntrack.entries(family: .v4).filter { $0.proto == 17 }
        #expect(!after.contains { $0.originalDestination == IPAddress("10.96.0.54")! }, "the deleted Service's flows are gone: \(after)")
        #expect(after.contains { $0.originalDestination == IPAddress("10.96.0.53")! }, "the kept Service's stay: \(after)")
        // A second write of the same object reads nothing again: only what it found at its start counts.
        try restarted.write(ServiceRuleset.image([], node: lab.node4))
        #expect(restarted.inherited?.count == 2)
    }

    /// Legacy iptables (x_tables), as kube-proxy 1.20 on Debian writes it, read through the kernel in the
    /// node's namespace: a nat table without KUBE-SERVICES is not kube-proxy's, one with it is, in both families.
    @Test func kubeProxysLegacyIptablesChainsAreDetected() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        #expect(try ServiceTable.kubeProxyRules(handle: lab.handle, namespace: namespace) == [])
        // Asking made no table: the kernel creates one on first request, which is why /proc is read first.
        #expect(!(try sh("ip netns exec \(lab.node) cat /proc/net/ip_tables_names")).contains("nat"))
        try sh("ip netns exec \(lab.node) iptables-legacy -t nat -N OTHER")
        try sh("ip netns exec \(lab.node) ip6tables-legacy -t nat -N OTHER")
        #expect(try ServiceTable.kubeProxyRules(handle: lab.handle, namespace: namespace) == [], "nat tables without KUBE-SERVICES")
        try sh("ip netns exec \(lab.node) iptables-legacy -t nat -N KUBE-SERVICES")
        var found = try ServiceTable.kubeProxyRules(handle: lab.handle, namespace: namespace)
        #expect(found.count == 1 && found[0].contains("legacy iptables' ip nat") && found[0].contains("iptables-legacy-save | grep -v KUBE"), "\(found)")
        try sh("ip netns exec \(lab.node) ip6tables-legacy -t nat -N KUBE-SERVICES")
        found = try ServiceTable.kubeProxyRules(handle: lab.handle, namespace: namespace)
        #expect(found.count == 2 && found[1].contains("ip6 nat") && found[1].contains("ip6tables-legacy-restore"), "\(found)")
    }

    @Test func theListingIsWhatWasWritten() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        var plan = Self.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true), ("10.244.2.2", true)])
        plan.nodePort = 30080
        plan.portName = "http"
        try lab.write([plan, Self.plan("empty", "fd96::11", endpoints: [], family: .v6)])
        let listing = try lab.table.listing()
        #expect(
            listing == [
                ServiceListing(service: "prod/empty", transport: "tcp", frontends: ["[fd96::11]:80"], endpoints: []),
                ServiceListing(
                    service: "prod/web:http", transport: "tcp", frontends: ["10.96.0.10:80", "192.168.61.1:30080"],
                    endpoints: ["10.244.1.2:8080", "10.244.2.2:8080"]),
            ], "\(listing)")
    }
}

/// `weftctl services ls`, the built binary, in the node's namespace against a table ServiceTable wrote.
@Suite(.privileged)
struct WeftctlServicesTests {
    static var weftctl: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()]
        where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("weftctl").path) {
            return candidate.appendingPathComponent("weftctl").path
        }
        return ProcessInfo.processInfo.environment["WEFTCTL_BIN"] ?? ".build/debug/weftctl"
    }

    @Test func listsEachServicePortsFrontendsAndEndpoints() throws {
        let lab = try ServiceLab()
        defer { lab.cleanup() }
        var web = ServiceDatapathTests.plan("web", "10.96.0.10", endpoints: [("10.244.1.2", true), ("10.244.2.2", true)])
        web.nodePort = 30080
        try lab.write([web, ServiceDatapathTests.plan("empty", "10.96.0.11", endpoints: [])])
        let all = try runProgram("/usr/bin/nsenter", ["--net=/var/run/netns/\(lab.node)", Self.weftctl, "services", "ls"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("prod/web\ttcp\t10.96.0.10:80,192.168.61.1:30080\t10.244.1.2:8080,10.244.2.2:8080"), "\(all.stdout)")
        #expect(all.stdout.contains("prod/empty\ttcp\t10.96.0.11:80\t(none: rejected)"), "\(all.stdout)")
        let one = try runProgram("/usr/bin/nsenter", ["--net=/var/run/netns/\(lab.node)", Self.weftctl, "services", "ls", "prod/empty"])
        #expect(one.stdout.contains("prod/empty") && !one.stdout.contains("prod/web"), "\(one.stdout)")
    }
}

/// The 5,000-Service table of ServiceRulesetTests written into a real kernel, then one endpoint changed.
@Suite(.privileged)
struct ServiceScaleTests {
    /// Named `heavy…`: two minutes of CPU in a debug build, so make test runs it after the other suites,
    /// alone, where it neither slows nor is slowed by the suites with deadlines. It counts messages and
    /// chains, never time, so the e2e run beside make test in CI does not change its verdict.
    @Test func heavyFiveThousandServicesAreOneWriteAndOneEndpointChangeIsAFewMessages() throws {
        let id = String(UUID().uuidString.prefix(8)).lowercased(), node = "wt-\(id)-sscale"
        try sh("ip netns add \(node)")
        defer { _ = try? sh("ip netns delete \(node)", check: false) }
        let handle = NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(node)")), table = ServiceTable(handle: handle)
        let serviceNode = ServiceNode(nodePortAddresses: [], clusterCIDRs: [IPNetwork("10.244.0.0/16")!])
        let initial = try table.write(ServiceRuleset.image(ServiceRulesetTests.plans(changing: false), node: serviceNode))
        let change = try table.write(ServiceRuleset.image(ServiceRulesetTests.plans(changing: true), node: serviceNode))
        print("5,000 Services x 10 endpoints in the kernel: initial write \(initial) messages, one endpoint changed \(change) messages")
        #expect(initial > 100_000)
        #expect(change > 0 && change <= 12)
        let chains = try NftClient(handle: handle).chains(table: .inet(ServiceRuleset.table))
        #expect(chains.filter { $0.hasPrefix("endpoint-") }.count == 50_000)
        #expect(chains.contains { $0.hasSuffix("prod/svc-1234/tcp/80__10.200.0.1/8080") })
    }
}
