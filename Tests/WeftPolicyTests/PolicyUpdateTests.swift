import Testing
import WeftAddress
import WeftAgent
import WeftNetlink
@testable import WeftNftables
@testable import WeftPolicy

/// What a change costs: a node compiles only for its own pods, and a new pod is a few elements in one
/// transaction, never a rewritten chain.
@Suite struct PolicyUpdateTests {
    final class Unused: NetlinkTransport {
        func send(_ bytes: [UInt8]) throws { throw NetlinkError("send", errno: 1) }
        func receive() throws -> [UInt8] { [] }
    }

    static let denyAll = try! NetworkPolicy(json: ["metadata": ["name": "deny", "namespace": "prod"], "spec": ["podSelector": [:]]])
    static let fromClients = try! NetworkPolicy(json: [
        "metadata": ["name": "from-clients", "namespace": "prod"],
        "spec": [
            "podSelector": ["matchLabels": ["app": "web"]],
            "ingress": [["from": [["podSelector": ["matchLabels": ["role": "client"]]]]]],
        ],
    ])

    static func pod(_ name: String, _ address: String, node: String, labels: [String: String]) -> PolicyPod {
        PolicyPod(namespace: "prod", name: name, labels: labels, addresses: [IPAddress(address)!], nodeName: node)
    }

    static let pods = [
        pod("web-a", "10.1.0.2", node: "a", labels: ["app": "web"]),
        pod("client-a", "10.1.0.3", node: "a", labels: ["role": "client"]),
        pod("web-b", "10.1.1.2", node: "b", labels: ["app": "web"]),
        pod("client-b", "10.1.1.3", node: "b", labels: ["role": "client"]),
    ]

    @Test func aNodeHasVerdictsForItsOwnPodsAndEveryPodAsAPeer() throws {
        let compiled = PolicyCompiler.compile(policies: [Self.fromClients], pods: Self.pods, namespaces: [], node: "a")
        #expect(compiled.verdicts[.ingress]?.keys.map(\.description) == ["10.1.0.2"])
        #expect(compiled.selections.keys.sorted() == ["prod/web-a"])
        #expect(
            compiled.addressSets.values.first == [AddressInterval(IPAddress("10.1.0.3")!), AddressInterval(IPAddress("10.1.1.3")!)],
            "clients on both nodes are peers")
        let elsewhere = PolicyCompiler.compile(policies: [Self.fromClients], pods: Self.pods.filter { $0.nodeName == "b" }, namespaces: [], node: "a")
        #expect(elsewhere == CompiledPolicies(), "a policy selecting none of the node's pods costs it nothing")
    }

    @Test func aNewPodIsElementsInOneTransactionNotRules() throws {
        let client = NftClient(transport: Unused())
        let before = PolicyRuleset.image(PolicyCompiler.compile(policies: [Self.denyAll, Self.fromClients], pods: Self.pods, namespaces: [], node: "a"))
        let more =
            Self.pods + [
                Self.pod("web-a2", "10.1.0.4", node: "a", labels: ["app": "web"]),
                Self.pod("client-b2", "10.1.1.4", node: "b", labels: ["role": "client"]),
            ]
        let after = PolicyRuleset.image(PolicyCompiler.compile(policies: [Self.denyAll, Self.fromClients], pods: more, namespaces: [], node: "a"))
        let batch = try #require(client.diff(from: before, to: after))
        let messages = batch.descriptions.values.sorted()
        // The new web pod's verdict (its ingress chain is web-a's; egress is open); the new client joins
        // 10.1.1.3's interval in the clients' set: that interval deleted, the longer one added.
        let clients = "in-\(PolicyCompiler.hash("prod/from-clients"))-0-4"
        #expect(messages == ["add 1 elements to ingress4", "add 2 elements to \(clients)", "delete 2 elements from \(clients)"], "\(messages)")
        #expect(try #require(client.diff(from: after, to: after)).isEmpty)
        var rebased = after
        rebased.baseChains[0] = NftChain(name: "egress", hook: .forward, priority: 5, type: "filter")
        #expect(client.diff(from: before, to: rebased) == nil, "a changed base chain is a whole rewrite")
    }
}

/// A pod's ADD as elements (PodDelta) leaves the table holding what compiling everything again would.
@Suite struct PodDeltaTests {
    /// A table's contents by set, intervals merged, so two element lists covering the same addresses compare equal.
    static func contents(_ image: NftTableImage) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for set in image.sets {
            let elements = image.elements[set.name] ?? []
            if set.interval {
                let intervals = NftClient.intervals(elements).compactMap { pair -> AddressInterval? in
                    guard let first = IPAddress(bytes: pair[0].key) else { return nil }
                    let end = pair.count > 1 ? IPAddress(bytes: pair[1].key).flatMap(AddressIntervals.predecessor) : nil
                    return AddressInterval(first, end ?? first)
                }
                result[set.name] = AddressIntervals.merge(intervals).map(\.description)
            } else {
                result[set.name] = elements.map { "\($0.key) \($0.verdict.map { "\($0)" } ?? "")" }.sorted()
            }
        }
        return result
    }

    @Test func everyFixturePodAddedAsElementsMatchesAWholeCompile() throws {
        let fixture = try Fixture.load()
        let policies = Array(fixture.policies.values)
        var fastPaths = 0
        for pod in fixture.pods where !pod.addresses.isEmpty {
            let others = fixture.pods.filter { $0.key != pod.key }
            let before = PolicyCompiler.compile(policies: policies, pods: others, namespaces: fixture.namespaces)
            let whole = PolicyCompiler.compile(policies: policies, pods: fixture.pods, namespaces: fixture.namespaces)
            guard let delta = PolicyCompiler.delta(adding: pod, policies: policies, namespaces: fixture.namespaces, node: nil, to: before) else { continue }
            fastPaths += 1
            var image = PolicyRuleset.image(before)
            for (set, elements) in PolicyRuleset.elements(delta, to: before) {
                #expect(image.sets.contains { $0.name == set }, "\(pod.key): \(set) is not in the table")
                image.elements[set, default: []] += elements
            }
            #expect(Self.contents(image) == Self.contents(PolicyRuleset.image(whole)), "\(pod.key)")
            var added = before
            added.add(delta)
            #expect(added.selections == whole.selections && added.verdicts == whole.verdicts, "\(pod.key)")
        }
        #expect(fastPaths >= 4, "the fixture pods whose policies and sets exist without them take the fast path: \(fastPaths)")
    }

    @Test func aPodNeedingANewChainOrAFirstFamilyMemberIsCompiledWhole() throws {
        let deny = PolicyUpdateTests.denyAll, clients = PolicyUpdateTests.fromClients
        let base = PolicyUpdateTests.pods.filter { $0.nodeName == "a" }
        let compiled = PolicyCompiler.compile(policies: [deny, clients], pods: base, namespaces: [], node: "a")
        // A pod selected by a policy that selects no other pod of the node: not compiled here yet.
        let dbOnly = try NetworkPolicy(json: ["metadata": ["name": "db", "namespace": "prod"], "spec": ["podSelector": ["matchLabels": ["app": "db"]]]])
        let withDB = PolicyCompiler.compile(policies: [deny, clients, dbOnly], pods: base, namespaces: [], node: "a")
        let db = PolicyUpdateTests.pod("db", "10.1.0.9", node: "a", labels: ["app": "db"])
        #expect(PolicyCompiler.delta(adding: db, policies: [deny, clients, dbOnly], namespaces: [], node: "a", to: withDB) == nil)
        // An IPv6 client: the clients' set has no IPv6 member, so no IPv6 set or rule exists.
        let v6 = PolicyPod(namespace: "prod", name: "c6", labels: ["role": "client"], addresses: [IPAddress("fd00::3")!], nodeName: "a")
        #expect(PolicyCompiler.delta(adding: v6, policies: [deny, clients], namespaces: [], node: "a", to: compiled) == nil)
        // Another web pod on the node: web-a's chain, elements only.
        let web = PolicyUpdateTests.pod("web-a2", "10.1.0.4", node: "a", labels: ["app": "web"])
        let delta = try #require(PolicyCompiler.delta(adding: web, policies: [deny, clients], namespaces: [], node: "a", to: compiled))
        #expect(delta.verdicts[.ingress] == compiled.verdicts[.ingress]?[IPAddress("10.1.0.2")!])
        #expect(delta.addressSets.isEmpty && delta.portEntries.isEmpty)
    }
}
