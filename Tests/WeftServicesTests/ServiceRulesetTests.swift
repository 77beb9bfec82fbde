import Testing
import WeftAddress
import WeftNetlink
@testable import WeftNftables
@testable import WeftServices

/// The Services table as values: kube-proxy's nftables layout, per family, per Service port and endpoint.
@Suite struct ServiceRulesetTests {
    static let node = ServiceNode(
        nodePortAddresses: [IPAddress("192.168.50.2")!, IPAddress("127.0.0.1")!, IPAddress("fd50::2")!, IPAddress("::1")!],
        clusterCIDRs: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])

    static func plan(
        _ name: String, _ clusterIP: String, endpoints: [String], port: UInt16 = 80, nodePort: UInt16? = nil, family: IPAddress.Family = .v4,
        transport: TransportProtocol = .tcp
    ) -> ServicePortPlan {
        ServicePortPlan(
            namespace: "prod", name: name, transport: transport, family: family, clusterIP: IPAddress(clusterIP), port: port, nodePort: nodePort,
            endpoints: endpoints.map { EndpointPlan(address: IPAddress($0)!, port: 8080) })
    }

    func elements(_ image: NftTableImage, _ set: String) -> [NftSetElement] { image.elements[set] ?? [] }

    @Test func tableName() {
        let image = ServiceRuleset.image([], node: ServiceNode(nodePortAddresses: [], clusterCIDRs: []))
        #expect(image.name == ServiceRuleset.table)
    }

    @Test func baseChainsSitAtKubeProxysPrioritiesBeforeWeftsHostPortsAndMasquerade() {
        let image = ServiceRuleset.image([], node: Self.node)
        let chains = Dictionary(uniqueKeysWithValues: image.baseChains.map { ($0.name, $0) })
        #expect(chains["nat-prerouting"]?.priority == -100 && chains["nat-prerouting"]?.hook == .prerouting)
        #expect(chains["nat-output"]?.priority == -100 && chains["nat-output"]?.hook == .output)
        #expect(chains["nat-postrouting"]?.priority == 100 && chains["nat-postrouting"]?.hook == .postrouting)
        #expect(chains["filter-prerouting"]?.priority == -110 && chains["filter-prerouting"]?.type == "filter")
        #expect(chains["filter-output"]?.priority == -110 && chains["filter-output"]?.type == "filter")
        #expect(
            Set(image.sets.map(\.name)).isSuperset(of: [
                "service-ips", "service-ips6", "service-nodeports", "service-nodeports6", "nodeport-ips", "nodeport-ips6",
            ]))
    }

    @Test func nodePortsAreServedOnTheNodesAddressesNeverOnLoopback() {
        let image = ServiceRuleset.image([], node: Self.node)
        #expect(elements(image, "nodeport-ips").map(\.key) == [[192, 168, 50, 2]])
        #expect(elements(image, "nodeport-ips6").map(\.key) == [IPAddress("fd50::2")!.bytes])
    }

    @Test func aServicePortIsADispatchElementAServiceChainAndOneChainPerEndpointInEachFamily() throws {
        let v4 = Self.plan("web", "10.96.0.10", endpoints: ["10.244.1.2", "10.244.2.2"], nodePort: 30080)
        let v6 = Self.plan("web", "fd96::10", endpoints: ["fd44::1:2"], nodePort: 30080, family: .v6)
        let image = ServiceRuleset.image([v4, v6], node: Self.node)
        let names4 = ServicePortNames(v4), names6 = ServicePortNames(v6)
        #expect(names4.service.hasPrefix("service-") && names4.service.hasSuffix("-prod/web/tcp/80"))
        #expect(names4.hash != names6.hash, "each family has chains of its own")
        let dispatch4 = elements(image, "service-ips")
        #expect(dispatch4.map(\.key) == [[10, 96, 0, 10, 6, 0, 0, 0, 0, 80, 0, 0]])
        #expect(dispatch4.first?.verdict == .goto(names4.service) && dispatch4.first?.comment == "prod/web")
        #expect(elements(image, "service-ips6").first?.verdict == .goto(names6.service))
        #expect(elements(image, "service-nodeports").map(\.key) == [[6, 0, 0, 0, 0x75, 0x80, 0, 0]])
        for endpoint in v4.endpoints + v6.endpoints {
            let names = endpoint.address.isIPv4 ? names4 : names6
            #expect(image.regularChains.contains(names.endpoint(endpoint)))
            #expect(names.endpoint(endpoint).hasSuffix("__\(endpoint.address)/8080"))
        }
        let choice = try #require(image.rules.first { $0.chain == names4.service && $0.expressions.contains(.numgenRandom(modulus: 2, into: .r(0))) })
        guard case let .anonymousVerdictMap(_, _, _, choices)? = choice.expressions.last else {
            Issue.record("the service chain picks an endpoint by numgen into an anonymous map")
            return
        }
        #expect(choices.map(\.verdict) == v4.endpoints.map { .goto(names4.endpoint($0)) })
        let dnat = image.rules.filter { $0.chain == names4.endpoint(v4.endpoints[0]) }.last?.expressions
        #expect(dnat?.contains(.immediate(.r(0), [10, 244, 1, 2])) == true && dnat?.contains(.immediate(.r(1), [0x1f, 0x90])) == true)
        #expect(dnat?.last == .dnatToPort(family: .v4, address: .r(0), port: .r(1)))
    }

    @Test func aHeadlessServiceGetsNothing() {
        var headless = Self.plan("db", "10.96.0.11", endpoints: ["10.244.1.3"])
        headless.clusterIP = nil
        #expect(ServiceRuleset.image([headless], node: Self.node) == ServiceRuleset.image([], node: Self.node))
    }

    @Test func aServiceWithoutEndpointsIsRejectedFromTheFilterChains() {
        let plan = Self.plan("empty", "10.96.0.12", endpoints: [], nodePort: 30081)
        let image = ServiceRuleset.image([plan], node: Self.node)
        #expect(elements(image, "service-ips").isEmpty && elements(image, "service-nodeports").isEmpty)
        #expect(elements(image, "no-endpoint-services").map(\.verdict) == [.goto("reject-services")])
        #expect(elements(image, "no-endpoint-nodeports").map(\.verdict) == [.goto("reject-services")])
        #expect(!image.regularChains.contains(ServicePortNames(plan).service))
        #expect(image.rules.filter { $0.chain == "reject-services" }.map { $0.expressions.last } == [.reject(.tcpReset), .reject(.icmpxPortUnreachable)])
    }

    /// A Service cannot take another's ClusterIP through its externalIPs (the cluster DNS's, say), nor
    /// make it reject from the no-endpoint maps, nor serve on the node's own or special addresses; the
    /// victim's ClusterIP still goes to the victim (the positive control from the same image).
    @Test func externalAddressesNeverTakeAClusterIPTheNodesOwnOrSpecialAddresses() {
        let victim = Self.plan("dns", "10.96.0.10", endpoints: ["10.244.1.2"], port: 53)
        var thief = Self.plan("aaa", "10.96.0.20", endpoints: ["10.244.6.6"], port: 53)
        thief.externalIPs = ["10.96.0.10", "127.0.0.1", "192.168.50.2", "169.254.169.254", "0.0.0.0", "224.0.0.1", "192.168.60.7"].map { IPAddress($0)! }
        var empty = Self.plan("zzz", "10.96.0.30", endpoints: [], port: 53)
        empty.externalIPs = [IPAddress("10.96.0.10")!]
        var node = Self.node
        node.protectedAddresses = [IPAddress("192.168.60.8")!]
        thief.externalIPs.append(IPAddress("192.168.60.8")!)  // the API server's
        for plans in [[victim, thief, empty], [empty, thief, victim]] {
            let image = ServiceRuleset.image(plans, node: node)
            let served = Dictionary(uniqueKeysWithValues: elements(image, "service-ips").map { (Array($0.key.prefix(4)), $0) })
            #expect(served[[10, 96, 0, 10]]?.verdict == .goto(ServicePortNames(victim).service))
            #expect(served[[10, 96, 0, 10]]?.comment == victim.id)
            #expect(served[[192, 168, 60, 7]]?.comment == thief.id, "an ordinary external address is served")
            #expect(Set(served.keys) == [[10, 96, 0, 10], [10, 96, 0, 20], [192, 168, 60, 7]], "\(served.keys)")
            #expect(elements(image, "no-endpoint-services").map { Array($0.key.prefix(4)) } == [[10, 96, 0, 30]])
        }
    }

    /// Cluster policy: NodePort and external traffic may go to an endpoint on another node, so it is
    /// masqueraded, pods too; the ClusterIP path masquerades only sources outside the pod networks.
    @Test func clusterPolicyMasqueradesNodePortAndExternalTraffic() {
        var plan = Self.plan("web", "10.96.0.14", endpoints: ["10.244.9.2"], nodePort: 30083)
        plan.externalIPs = [IPAddress("192.168.50.101")!]
        let image = ServiceRuleset.image([plan], node: Self.node), names = ServicePortNames(plan)
        #expect(
            image.rules.filter { $0.chain == names.external }.map(\.expressions) == [
                [.verdict(.jump("mark-for-masquerade"))], [.verdict(.goto(names.service))],
            ])
        #expect(elements(image, "service-nodeports").first?.verdict == .goto(names.external))
        let byAddress = Dictionary(uniqueKeysWithValues: elements(image, "service-ips").map { (Array($0.key.prefix(4)), $0.verdict) })
        #expect(byAddress[[192, 168, 50, 101]] == .goto(names.external))
        #expect(byAddress[[10, 96, 0, 14]] == .goto(names.service))
    }

    @Test func localPolicyWithoutLocalEndpointsDropsExternalTrafficAndKeepsPodsOnTheClusterPolicy() {
        var plan = Self.plan("local", "10.96.0.13", endpoints: ["10.244.9.2"], nodePort: 30082)
        plan.externalTrafficLocal = true
        plan.externalIPs = [IPAddress("192.168.50.100")!]
        let image = ServiceRuleset.image([plan], node: Self.node), names = ServicePortNames(plan)
        let external = image.rules.filter { $0.chain == names.external }
        #expect(external.first?.expressions.last == .verdict(.goto(names.service)), "pods keep the cluster policy")
        #expect(external.last?.expressions == [.verdict(.drop)])
        #expect(elements(image, "service-nodeports").first?.verdict == .goto(names.external))
        #expect(elements(image, "service-ips").map(\.verdict).contains(.goto(names.external)))
        #expect(!image.rules.contains { $0.chain == names.external && $0.expressions.contains(.verdict(.jump("mark-for-masquerade"))) })
    }

    @Test func clientIPAffinityIsADynamicSetPerEndpointWithTheTimeout() {
        var plan = Self.plan("sticky", "10.96.0.14", endpoints: ["10.244.1.4", "10.244.1.5"])
        plan.affinitySeconds = 2
        let image = ServiceRuleset.image([plan], node: Self.node), names = ServicePortNames(plan)
        let sets = image.sets.filter { $0.name.hasPrefix("affinity-") }
        #expect(sets.count == 2 && sets.allSatisfy { $0.dynamic && $0.timeoutMilliseconds == 2000 })
        for endpoint in plan.endpoints {
            #expect(
                image.rules.contains { $0.chain == names.endpoint(endpoint) && $0.expressions.last == .dynsetUpdate(set: names.affinity(endpoint), key: .r(0)) }
            )
            #expect(image.rules.contains { $0.chain == names.service && $0.expressions.last == .verdict(.goto(names.endpoint(endpoint))) })
        }
    }

    @Test func loadBalancerSourceRangesReturnTheAllowedAndDropTheRest() {
        var plan = Self.plan("lb", "10.96.0.15", endpoints: ["10.244.1.6"])
        plan.loadBalancerIPs = [IPAddress("192.168.50.200")!]
        plan.loadBalancerSourceRanges = [IPNetwork("192.168.60.0/24")!]
        let image = ServiceRuleset.image([plan], node: Self.node), names = ServicePortNames(plan)
        #expect(elements(image, "firewall-ips").map(\.verdict) == [.jump(names.firewall)])
        #expect(image.rules.filter { $0.chain == names.firewall }.map { $0.expressions.last } == [.verdict(.return), .verdict(.drop)])
    }

    @Test func internalLocalPolicySendsClusterTrafficToThisNodesEndpointsOnlyAndDropsWithoutThem() {
        var plan = Self.plan("internal", "10.96.0.16", endpoints: ["10.244.1.7", "10.244.2.7"])
        plan.endpoints[0].isLocal = true
        plan.internalTrafficLocal = true
        var none = Self.plan("internal-none", "10.96.0.17", endpoints: ["10.244.2.8"])
        none.internalTrafficLocal = true
        let image = ServiceRuleset.image([plan, none], node: Self.node)
        let names = ServicePortNames(plan)
        #expect(image.rules.filter { $0.chain == names.service }.last?.expressions == [.verdict(.goto(names.endpoint(plan.endpoints[0])))])
        #expect(!image.regularChains.contains(names.endpoint(plan.endpoints[1])), "the other node's endpoint gets no chain")
        #expect(image.rules.filter { $0.chain == ServicePortNames(none).service }.last?.expressions == [.verdict(.drop)])
    }

    @Test func namesPastTheKernelsLimitAreCutAndStayApartByTheirHash() {
        // Past what the API allows (63-byte namespaces, 63-byte names), so the cut really happens.
        let long = String(repeating: "n", count: 150)
        var plan = Self.plan(long, "fd96::20", endpoints: ["fd44:1234:5678:9abc:def0:1234:5678:9abc", "fd44::1"], family: .v6)
        plan.namespace = long
        let names = ServicePortNames(plan), endpoint = names.endpoint(plan.endpoints[0])
        #expect(endpoint.utf8.count == 255 && names.service.utf8.count == 255)
        #expect(ServicePortNames.hash(ofName: endpoint) == names.hash && ServicePortNames.hash(ofName: names.service) == names.hash)
        #expect(names.endpoint(plan.endpoints[1]) != endpoint, "two endpoints cut at the same place stay apart")
        let image = ServiceRuleset.image([plan], node: Self.node)
        #expect(image.regularChains.allSatisfy { $0.utf8.count <= 255 })
    }

    @Test func theSameplansInAnyOrderGiveTheSameImage() {
        let plans = (0..<20).map { Self.plan("s\($0)", "10.96.1.\($0)", endpoints: ["10.244.3.\($0)", "10.244.4.\($0)"]) }
        #expect(ServiceRuleset.image(plans, node: Self.node) == ServiceRuleset.image(plans.reversed(), node: Self.node))
    }

    /// 5,000 Services of 10 endpoints each, one endpoint of Service 1234 replaced when `changing`.
    static func plans(changing: Bool) -> [ServicePortPlan] {
        (0..<5000).map { index in
            let endpoints = (0..<10).map { "10.\(100 + index / 250).\(index % 250).\($0 + 2)" }
            var plan = Self.plan("svc-\(index)", "10.96.\(index / 250).\(index % 250)", endpoints: endpoints)
            if changing, index == 1234 { plan.endpoints[3] = EndpointPlan(address: IPAddress("10.200.0.1")!, port: 8080) }
            return plan
        }
    }

    /// One Service's affinity timeout changed among 200 affine ones: its sets are new sets (a set's timeout
    /// is fixed at creation), so the diff touches that Service alone and never replaces the table, which
    /// would wipe every other Service's affinity entries.
    @Test func anAffinityTimeoutChangeTouchesOnlyThatService() throws {
        func plans(_ changed: UInt32) -> [ServicePortPlan] {
            (0..<200).map { index in
                var plan = Self.plan("sticky-\(index)", "10.96.1.\(index)", endpoints: ["10.244.\(index).2", "10.244.\(index).3"])
                plan.affinitySeconds = index == 17 ? changed : 10_800
                return plan
            }
        }
        let client = NftClient(transport: ServicesUnusedTransport())
        let before = ServiceRuleset.image(plans(10_800), node: Self.node), after = ServiceRuleset.image(plans(60), node: Self.node)
        let diff = try #require(client.diff(from: before, to: after), "a diff, not a replacement")
        let names = ServicePortNames(plans(60)[17]), touched = diff.descriptions.values.sorted()
        #expect(diff.batch.messageCount <= 20, "\(touched)")
        #expect(
            touched.filter { $0.contains("chain ") || $0.contains("set ") }.allSatisfy { $0.contains(names.hash) || $0.hasSuffix("an anonymous map") },
            "\(touched)")
        #expect(after.sets.contains { $0.name.hasPrefix("affinity-\(names.hash)-60s-") && $0.timeoutMilliseconds == 60_000 })
    }

    /// 5,000 Services of 10 endpoints: the first write, and one endpoint changed, counted as the messages
    /// and bytes NftClient sends (replace, then update's diff).
    @Test func oneEndpointChangeAmong5000ServicesTouchesOnlyThatService() throws {
        let before = ServiceRuleset.image(Self.plans(changing: false), node: Self.node)
        let after = ServiceRuleset.image(Self.plans(changing: true), node: Self.node)
        let client = NftClient(transport: ServicesUnusedTransport())
        let initial = client.replacement(before)
        let initialBytes = initial.batch.finish().bytes.count
        let diff = try #require(client.diff(from: before, to: after))
        let diffBytes = diff.batch.finish().bytes.count
        let touched = diff.descriptions.values.sorted()
        print(
            "5,000 Services x 10 endpoints: initial write \(initial.batch.messageCount) messages, \(initialBytes) bytes; one endpoint changed: \(diff.batch.messageCount) messages, \(diffBytes) bytes: \(touched)"
        )
        let names = ServicePortNames(Self.plans(changing: true)[1234])
        #expect(diff.batch.messageCount <= 12, "\(touched)")
        #expect(
            touched.allSatisfy {
                !$0.contains("chain ") || $0.contains(names.hash) || $0.hasSuffix("an anonymous map") || $0.contains("add rule to \(names.service)")
            }, "\(touched)")
        #expect(touched.contains("add chain endpoint-\(names.hash)-prod/svc-1234/tcp/80__10.200.0.1/8080"))
    }
}

final class ServicesUnusedTransport: NetlinkTransport {
    func send(_ bytes: [UInt8]) throws { throw NetlinkError("send", errno: 1) }
    func receive() throws -> [UInt8] { [] }
}
