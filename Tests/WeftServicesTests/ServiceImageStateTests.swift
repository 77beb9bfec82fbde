import Testing
import WeftAddress
import WeftNetlink
import WeftTestSupport
@testable import WeftNftables
@testable import WeftServices

/// The table kept as per-Service-port fragments (ServiceImageState) against the reference, the whole
/// image of every plan (ServiceRuleset.image): after every change, the whole image built from the
/// fragments is the reference's, and the kernel's table changed by the partial images is too.
@Suite struct ServiceImageStateTests {
    typealias Model = NftTableModel

    static let node: ServiceNode = {
        var node = ServiceNode(nodePortAddresses: [IPAddress("192.168.50.2")!, IPAddress("fd50::2")!], clusterCIDRs: [IPNetwork("10.244.0.0/16")!])
        node.protectedAddresses = [IPAddress("192.168.50.9")!]
        return node
    }()

    /// A small deterministic RNG (SplitMix64): the same seed, the same sequence.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// One Service's plans drawn from small pools, so addresses, ports and NodePorts collide across
    /// Services: ClusterIPs named as others' external addresses, external addresses claimed twice, the
    /// node's own and the protected address as external ones, NodePorts shared.
    static func randomPlans(_ name: String, _ rng: inout Seeded) -> [ServicePortPlan] {
        let v4 = (1...6).map { IPAddress("10.96.0.\($0)")! } + [IPAddress("192.168.50.2")!, IPAddress("192.168.50.9")!, IPAddress("127.0.0.1")!]
        let v6 = (1...4).map { IPAddress("fd96::\($0)")! } + [IPAddress("fd50::2")!]
        let endpointPool4 = (1...6).map { IPAddress("10.244.1.\($0)")! }, endpointPool6 = (1...4).map { IPAddress("fd44::\($0)")! }
        var plans: [ServicePortPlan] = []
        guard Int.random(in: 0..<6, using: &rng) != 0 else { return [] }
        let families: [IPAddress.Family] = [[.v4], [.v6], [.v4, .v6]][Int.random(in: 0..<3, using: &rng)]
        let ports = Int.random(in: 1...2, using: &rng)
        let affinity: UInt32? = Bool.random(using: &rng) ? nil : [60, 10_800][Int.random(in: 0..<2, using: &rng)]
        let externalLocal = Bool.random(using: &rng), internalLocal = Int.random(in: 0..<4, using: &rng) == 0
        for family in families {
            let pool = family == .v4 ? v4 : v6, endpointPool = family == .v4 ? endpointPool4 : endpointPool6
            let clusterIP: IPAddress? = Int.random(in: 0..<8, using: &rng) == 0 ? nil : pool[Int.random(in: 0..<(pool.count - 2), using: &rng)]
            let external = (0..<Int.random(in: 0...2, using: &rng)).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }
            let balancers = (0..<Int.random(in: 0...1, using: &rng)).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }
            let ranges = Bool.random(using: &rng) ? [] : [IPNetwork(family == .v4 ? "203.0.113.0/24" : "2001:db8::/32")!]
            for index in 0..<ports {
                let count = Int.random(in: 0...3, using: &rng)
                let endpoints = Set((0..<count).map { _ in endpointPool[Int.random(in: 0..<endpointPool.count, using: &rng)] }).sorted()
                    .map { EndpointPlan(address: $0, port: 8080, isLocal: Bool.random(using: &rng)) }
                plans.append(
                    ServicePortPlan(
                        namespace: "prod", name: name, portName: "p\(index)", transport: [.tcp, .udp][Int.random(in: 0..<2, using: &rng)],
                        family: family, clusterIP: clusterIP, port: [53, 80][Int.random(in: 0..<2, using: &rng)],
                        nodePort: Bool.random(using: &rng) ? nil : [30080, 30081][Int.random(in: 0..<2, using: &rng)],
                        externalIPs: Array(Set(external)).sorted(), loadBalancerIPs: Array(Set(balancers)).sorted(), loadBalancerSourceRanges: ranges,
                        affinitySeconds: affinity, externalTrafficLocal: externalLocal, internalTrafficLocal: internalLocal,
                        healthCheckNodePort: nil, endpoints: endpoints))
            }
        }
        return plans.sorted(by: ServicePlanner.order)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func incrementalEqualsWholeOverRandomEdits(seed: UInt64) throws {
        var rng = Seeded(state: seed)
        let names = (0..<10).map { "svc-\($0)" }
        let state = ServiceImageState(node: Self.node)
        var current: [String: [ServicePortPlan]] = [:]
        var kernel = Model(state.image())
        #expect(state.image() == ServiceRuleset.image([], node: Self.node))
        var partialSteps = 0
        for step in 0..<300 {
            // One Service changed, sometimes two or three at once (a burst of events).
            var changes: [String: [ServicePortPlan]] = [:]
            for _ in 0..<[1, 1, 1, 2, 3][Int.random(in: 0..<5, using: &rng)] {
                let name = names[Int.random(in: 0..<names.count, using: &rng)]
                changes["prod/\(name)"] = Self.randomPlans(name, &rng)
            }
            for (key, plans) in changes { current[key] = plans.isEmpty ? nil : plans }
            let change = state.update(changes)
            let reference = ServiceRuleset.image(current.values.flatMap { $0 }, node: Self.node)
            #expect(state.image() == reference, "step \(step)")
            // The partial images' diff exists (never a replacement) and makes the kernel's table the reference.
            let client = NftClient(transport: ServicesUnusedTransport())
            #expect(client.diff(from: change.before, to: change.after) != nil, "step \(step)")
            kernel.apply(from: change.before, to: change.after)
            #expect(kernel == Model(reference), "step \(step)")
            if !change.isEmpty { partialSteps += 1 }
            try #require(kernel == Model(reference))
        }
        #expect(partialSteps > 100)
    }

    /// Flows of a change alone equal the whole computation's, another Service serving the same frontend
    /// with the same endpoint included.
    @Test func staleFlowsOfAChangeKeepWhatAnotherServiceStillServes() {
        let state = ServiceImageState(node: Self.node)
        func plan(_ name: String, _ endpoints: [String]) -> ServicePortPlan {
            ServicePortPlan(
                namespace: "prod", name: name, transport: .udp, clusterIP: IPAddress("10.96.0.10")!, port: 53,
                endpoints: endpoints.map { EndpointPlan(address: IPAddress($0)!, port: 53) })
        }
        _ = state.update(["prod/a": [plan("a", ["10.244.1.2", "10.244.1.3"])], "prod/b": [plan("b", ["10.244.1.2"])]])
        let old = ["prod/a": [plan("a", ["10.244.1.2", "10.244.1.3"])]], new = ["prod/a": [plan("a", [])]]
        _ = state.update(new)
        let flows = ServiceFlows.stale(from: old, to: new, state: state)
        // 10.244.1.3 is gone from the frontend; 10.244.1.2 is still reached through b (the positive control).
        #expect(flows == [StaleFlow(frontend: IPAddress("10.96.0.10")!, port: 53, endpoint: IPAddress("10.244.1.3")!)])
        #expect(
            flows
                == ServiceFlows.stale(
                    from: [plan("a", ["10.244.1.2", "10.244.1.3"]), plan("b", ["10.244.1.2"])], to: [plan("a", []), plan("b", ["10.244.1.2"])],
                    node: Self.node))
    }
}
