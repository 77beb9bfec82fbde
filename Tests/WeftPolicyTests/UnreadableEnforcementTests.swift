import Foundation
import Testing
import WeftAddress
import WeftAgent
import Yams
@testable import WeftPolicy

/// What weftd cannot read, in a real kernel (PolicyEnforcementTests' lab): a NetworkPolicy whose spec is
/// not an object drops every packet of its namespace's pods (the node still reaches them), and a Pod that
/// cannot be read (its address isolated, `PolicyCompiler.compile(isolated:)`) passes nothing either way.
extension PolicyEnforcementTests {
    @Test func aPolicyWhoseSpecIsNotAnObjectOrAnUnreadablePodPassesNothing() throws {
        let lab = try Lab()
        defer { lab.cleanup() }
        try lab.serve("web", port: 8080)
        try lab.serve("client", port: 7000)
        let pods = try Yams.load_all(yaml: Self.pods).map { try PolicyPod(json: $0 as Any) }
        let readable = try Yams.load_all(yaml: Self.policies).map { try NetworkPolicy(json: $0 as Any) }
        try lab.install(PolicyRuleset.image(PolicyCompiler.compile(policies: readable, pods: pods, namespaces: [PolicyNamespace(name: "prod")])))
        // The positive controls: what the readable policies allow passes.
        #expect(try lab.answer(from: "client", to: "10.51.0.2", port: 8080) == "web")
        #expect(try lab.answer(from: "web", to: "10.52.0.2", port: 7000) == "client")

        // web-from-clients, its spec now 5: every pod of prod isolated both ways.
        let hostile = PolicyAPIObject(["metadata": ["name": "web-from-clients", "namespace": "prod"], "spec": 5])
        #expect(throws: PolicyError.self) { try hostile.decode(NetworkPolicy.self, kind: "NetworkPolicy") }
        let isolating = try #require(NetworkPolicy.unreadable(hostile))
        let others = readable.filter { $0.key != isolating.key }
        try lab.install(PolicyRuleset.image(PolicyCompiler.compile(policies: others + [isolating], pods: pods, namespaces: [PolicyNamespace(name: "prod")])))
        #expect(try lab.request(from: "client", to: "10.51.0.2", port: 8080) == "", "client to web")
        #expect(try lab.request(from: "client", to: "fd51::2", port: 8080) == "", "client to web, IPv6")
        #expect(try lab.request(from: "web", to: "10.52.0.2", port: 7000) == "", "web's egress")
        #expect(try lab.answer(from: nil, to: "10.51.0.2", port: 8080) == "web", "the node is not filtered")

        // The readable policies again, the client unreadable: its address isolated, no peer.
        let known = pods.filter { $0.name != "client" }
        let isolated: Set<IPAddress> = [IPAddress("10.52.0.2")!, IPAddress("fd52::2")!]
        let compiled = PolicyCompiler.compile(policies: readable, pods: known, namespaces: [PolicyNamespace(name: "prod")], isolated: isolated)
        try lab.install(PolicyRuleset.image(compiled))
        #expect(try lab.request(from: "client", to: "10.51.0.2", port: 8080) == "", "the unreadable client to web")
        #expect(try lab.request(from: "web", to: "10.52.0.2", port: 7000) == "", "web to the unreadable client")
        #expect(try lab.answer(from: nil, to: "10.52.0.2", port: 7000) == "client", "the node is not filtered")
    }
}
