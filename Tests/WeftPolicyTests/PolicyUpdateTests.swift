import Testing
import WeftAddress
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
        "spec": ["podSelector": ["matchLabels": ["app": "web"]],
                 "ingress": [["from": [["podSelector": ["matchLabels": ["role": "client"]]]]]]],
    ])

    static func pod(_ name: String, _ address: String, node: String, labels: [String: String]) -> PolicyPod {
        PolicyPod(namespace: "prod", name: name, labels: labels, addresses: [IPAddress(address)!], nodeName: node)
    }

    static let pods = [pod("web-a", "10.1.0.2", node: "a", labels: ["app": "web"]),
                       pod("client-a", "10.1.0.3", node: "a", labels: ["role": "client"]),
                       pod("web-b", "10.1.1.2", node: "b", labels: ["app": "web"]),
                       pod("client-b", "10.1.1.3", node: "b", labels: ["role": "client"])]

    @Test func aNodeHasVerdictsForItsOwnPodsAndEveryPodAsAPeer() throws {
        let compiled = PolicyCompiler.compile(policies: [Self.fromClients], pods: Self.pods, namespaces: [], node: "a")
        #expect(compiled.verdicts[.ingress]?.keys.map(\.description) == ["10.1.0.2"])
        #expect(compiled.selections.keys.sorted() == ["prod/web-a"])
        #expect(compiled.addressSets.values.first == [AddressInterval(IPAddress("10.1.0.3")!), AddressInterval(IPAddress("10.1.1.3")!)],
                "clients on both nodes are peers")
        let elsewhere = PolicyCompiler.compile(policies: [Self.fromClients], pods: Self.pods.filter { $0.nodeName == "b" }, namespaces: [], node: "a")
        #expect(elsewhere == CompiledPolicies(), "a policy selecting none of the node's pods costs it nothing")
    }

    @Test func aNewPodIsElementsInOneTransactionNotRules() throws {
        let client = NftClient(transport: Unused())
        let before = PolicyRuleset.image(PolicyCompiler.compile(policies: [Self.denyAll, Self.fromClients], pods: Self.pods, namespaces: [], node: "a"))
        let more = Self.pods + [Self.pod("web-a2", "10.1.0.4", node: "a", labels: ["app": "web"]),
                                Self.pod("client-b2", "10.1.1.4", node: "b", labels: ["role": "client"])]
        let after = PolicyRuleset.image(PolicyCompiler.compile(policies: [Self.denyAll, Self.fromClients], pods: more, namespaces: [], node: "a"))
        let batch = try #require(client.diff(from: before, to: after))
        let messages = batch.acks.values.sorted()
        // The new web pod's verdict (its ingress chain is web-a's; egress is open); the new client joins
        // 10.1.1.3's interval in the clients' set: that interval deleted, the longer one added.
        let clients = "in-\(PolicyCompiler.hash("prod/from-clients"))-0-4"
        #expect(messages == ["add 1 elements to ingress4", "add 2 elements to \(clients)", "delete 2 elements from \(clients)"], "\(messages)")
        #expect(try #require(client.diff(from: after, to: after)).acks.isEmpty)
        var rebased = after
        rebased.baseChains[0] = NftChain(name: "egress", hook: .forward, priority: 5, type: "filter")
        #expect(client.diff(from: before, to: rebased) == nil, "a changed base chain is a whole rewrite")
    }
}
