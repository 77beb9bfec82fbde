import Foundation
import Logging
import Testing
import WeftAddress
import WeftNetlink
@testable import WeftAgent
@testable import WeftPolicy

/// An object weftd cannot read never opens a pod: a NetworkPolicy whose rules it cannot read isolates
/// the pods it selects; one whose podSelector it cannot read isolates its whole namespace. (Pods and
/// namespaces it cannot read: NeverOpenTests.) And weftd reads what the API server accepts.
@Suite(.privileged)
struct UnreadablePolicyTests {
    static var web: [String: Any] {
        [
            "metadata": ["name": "web", "namespace": "prod", "labels": ["app": "web"]],
            "spec": ["nodeName": "n1", "containers": [["name": "c"]]],
            "status": ["podIPs": [["ip": "10.9.0.2"]]],
        ]
    }

    static func policy(_ name: String, spec: [String: Any]) -> [String: Any] {
        ["metadata": ["name": name, "namespace": "prod"], "spec": spec]
    }

    /// The agent alone (AgentLab): only the policies kind is delivered, so nothing is synced or flushed.
    func withAgent(_ body: (PolicyAgent) async throws -> Void) async throws {
        try await withAgentLab { lab in try await body(try lab.agent(syncWait: 0.1)) }
    }

    @Test func aPolicyWhoseRulesCannotBeReadIsolatesThePodsItSelects() async throws {
        try await withAgent { agent in
            let bad = Self.policy(
                "bad-peer",
                spec: [
                    "podSelector": ["matchLabels": ["app": "web"]],
                    "ingress": [["from": [["ipBlock": ["cidr": "not-a-cidr"]]]]],
                ])
            let good = Self.policy("good", spec: ["podSelector": ["matchLabels": ["app": "other"]], "ingress": [[String: Any]]()])
            await agent.received(.policies, listed: [bad, good])
            let kept = try #require(await agent.policies["prod/bad-peer"], "the unreadable policy is kept, not dropped")
            #expect(kept.ingress.isEmpty && kept.egress.isEmpty && kept.policyTypes == [.ingress, .egress])
            #expect(await agent.policies["prod/good"] != nil, "the control: a readable policy is read")
            let compiled = PolicyCompiler.compile(
                policies: Array(await agent.policies.values), pods: [try PolicyPod(json: Self.web)],
                namespaces: [PolicyNamespace(name: "prod")], node: "n1")
            let address = try #require(IPAddress("10.9.0.2"))
            for direction in [Direction.ingress, .egress] {
                let chain = try #require(compiled.verdicts[direction]?[address], "web is isolated for \(direction)")
                #expect(compiled.chains[chain]?.isEmpty == true, "and allowed nothing")
            }
            #expect(await agent.unreadable.isEmpty, "an isolating policy leaves weftd healthy")
        }
    }

    /// The other ways a rule cannot be read (a field of the wrong type, an unknown operator in a peer):
    /// the policy is kept with no rule and isolates web, as the bad ipBlock above does.
    @Test(
        arguments: [
            ["ingress": [["ports": [["port": true]]]]],
            ["ingress": [["from": [["namespaceSelector": ["matchExpressions": [["key": "team", "operator": "Near"]]]]]]]],
            ["egress": "everyone"],
        ] as [[String: any Sendable]])
    func aPolicyWithARuleOfTheWrongTypeOrAnUnknownOperatorIsolates(rules: [String: any Sendable]) async throws {
        try await withAgent { agent in
            let spec = rules.merging(["podSelector": ["matchLabels": ["app": "web"]]]) { $1 }
            let readable = Self.policy("readable", spec: ["podSelector": ["matchLabels": ["app": "web"]], "ingress": [["ports": [["port": 80]]]]])
            await agent.received(.policies, listed: [Self.policy("bad", spec: spec), readable])
            let kept = try #require(await agent.policies["prod/bad"], "kept, not dropped")
            #expect(kept.ingress.isEmpty && kept.egress.isEmpty && kept.policyTypes == [.ingress, .egress])
            #expect(await agent.policies["prod/readable"]?.ingress.first?.ports.count == 1, "the control: the same rules, readable, are read")
            let compiled = PolicyCompiler.compile(
                policies: [kept], pods: [try PolicyPod(json: Self.web)], namespaces: [PolicyNamespace(name: "prod")], node: "n1")
            let address = try #require(IPAddress("10.9.0.2"))
            for direction in [Direction.ingress, .egress] {
                let chain = try #require(compiled.verdicts[direction]?[address], "web is isolated for \(direction)")
                #expect(compiled.chains[chain]?.isEmpty == true, "and allowed nothing")
            }
            #expect(await agent.unreadable.isEmpty, "an isolating policy leaves weftd healthy")
        }
    }

    /// A policy whose selector cannot be read isolates every pod of its namespace in both directions
    /// (what it selects cannot be known), and weftd stays healthy: it knows what to enforce.
    @Test func aPolicyWhoseSelectorCannotBeReadIsolatesItsNamespace() async throws {
        try await withAgent { agent in
            agent.health.synced = true
            let bad = Self.policy("bad-selector", spec: ["podSelector": ["matchExpressions": [["key": "app", "operator": "Sideways"]]]])
            let readable = Self.policy("readable", spec: ["podSelector": ["matchLabels": ["app": "other"]]])
            await agent.received(.policies, .upserted(readable))
            #expect(await agent.policies["prod/readable"]?.podSelector.matches(["app": "web"]) == false, "the control: web not selected")
            await agent.received(.policies, .upserted(bad))
            let kept = try #require(await agent.policies["prod/bad-selector"], "kept, not dropped")
            #expect(kept.podSelector.matches(["app": "web"]) && kept.podSelector.matches([:]) && kept.policyTypes == [.ingress, .egress])
            #expect(kept.ingress.isEmpty && kept.egress.isEmpty)
            let unreadable = await agent.unreadable
            #expect(agent.health.current.healthy && unreadable.isEmpty, "an isolating policy leaves weftd healthy")
            // Fixed in the API: read as written.
            await agent.received(.policies, .upserted(Self.policy("bad-selector", spec: ["podSelector": ["matchLabels": ["app": "x"]]])))
            #expect(await agent.policies["prod/bad-selector"]?.podSelector.matches(["app": "web"]) == false)
        }
    }

    @Test func aWatchBrokenPastTheBoundIsUnhealthy() {
        let health = PolicyHealth()
        health.synced = true
        let start = ContinuousClock.now
        health.watchBroke("pods", at: start)
        #expect(health.current(at: start + .seconds(30)).healthy, "a break within the bound")
        let late = health.current(at: start + PolicyHealth.brokenBound + .seconds(1))
        #expect(!late.healthy && late.reason.contains("pods watch"), "\(late.reason)")
        health.watchListed("pods")
        #expect(health.current(at: start + .seconds(600)).healthy, "listed again")
    }
}
