import Foundation
import Testing
import WeftAddress
import WeftAgent
import Yams
@testable import WeftPolicy
import WeftNftables
import WeftTestSupport

/// The compiler from Kubernetes objects (YAML fixtures, decoded as the API's JSON is) to the sets,
/// chains and verdict maps nftables will hold. No root: pure values.
struct Fixture {
    var namespaces: [PolicyNamespace] = []
    var pods: [PolicyPod] = []
    var policies: [String: NetworkPolicy] = [:]

    static func load() throws -> Fixture {
        var fixture = Fixture()
        for file in ["cluster", "policies"] {
            let url = try #require(Bundle.module.url(forResource: "Fixtures/\(file)", withExtension: "yaml"))
            for document in try Yams.load_all(yaml: String(contentsOf: url, encoding: .utf8)) {
                let object = try #require(document as? [String: Any])
                switch object["kind"] as? String {
                case "Namespace": fixture.namespaces.append(try PolicyNamespace(json: object))
                case "Pod": fixture.pods.append(try PolicyPod(json: object))
                case "NetworkPolicy": let policy = try NetworkPolicy(json: object); fixture.policies[policy.name] = policy
                default: Issue.record("unexpected document \(object)")
                }
            }
        }
        return fixture
    }

    func compile(_ names: String...) throws -> CompiledPolicies {
        PolicyCompiler.compile(policies: try names.map { try #require(policies[$0]) }, pods: pods, namespaces: namespaces)
    }
}

func ip(_ text: String) -> IPAddress { IPAddress(text)! }

@Suite struct PolicyCompilerTests {
    @Test func withoutPoliciesNothingIsIsolated() throws {
        let compiled = try Fixture.load().compile()
        #expect(compiled.verdicts[.ingress]?.isEmpty == true && compiled.verdicts[.egress]?.isEmpty == true)
        #expect(compiled.chains.isEmpty && compiled.addressSets.isEmpty)
    }

    @Test func defaultDenyIsolatesEveryLivePodOfItsNamespaceOnly() throws {
        let compiled = try Fixture.load().compile("default-deny")
        let ingress = try #require(compiled.verdicts[.ingress])
        #expect(
            Set(ingress.keys) == Set(["10.244.1.10", "fd00:244:1::10", "10.244.2.11", "10.244.1.20", "10.244.1.53"].map(ip)),
            "not the pending, finished or host-network pods, nor other namespaces'")
        #expect(Set(ingress.values).count == 1, "one shared chain")
        #expect(compiled.chains[ingress[ip("10.244.1.20")]!] == [], "no allow rule: everything is dropped")
        #expect(compiled.verdicts[.egress]?.isEmpty == true, "policyTypes [Ingress]")
    }

    @Test func peersAreOredSelectorsAndNamedPortsResolveAtTheTarget() throws {
        let compiled = try Fixture.load().compile("web-from-front-and-monitoring")
        let chainName = try #require(compiled.verdicts[.ingress]?[ip("10.244.1.10")])
        #expect(compiled.verdicts[.ingress]?[ip("10.244.2.11")] == chainName)
        #expect(compiled.verdicts[.ingress]?[ip("10.244.1.20")] == nil, "db is not selected")
        let allows = try #require(compiled.chains[chainName])
        #expect(allows.count == 2)
        guard case let .set(peers) = allows[0].peers else { Issue.record("peers: \(allows[0].peers)"); return }
        // tier=front pods of prod (web-1 both families, web-2) or any pod of a monitoring namespace.
        #expect(compiled.addressSets[peers]?.map(\.description) == ["10.244.1.10", "10.244.2.11", "10.244.2.30", "fd00:244:1::10"])
        #expect(allows[0].ports == .ranges([CompiledPolicies.PortRange(proto: .tcp, first: 9100, last: 9100)]))
        #expect(allows[1].peers == allows[0].peers)
        guard case let .named(named) = allows[1].ports else { Issue.record("ports: \(allows[1].ports)"); return }
        #expect(
            compiled.portSets[named] == [
                .init(address: ip("10.244.1.10"), proto: .tcp, port: 8080), .init(address: ip("fd00:244:1::10"), proto: .tcp, port: 8080),
                .init(address: ip("10.244.2.11"), proto: .tcp, port: 8081),
            ], "each web pod's own number for http")
        // No policyTypes and no egress section: ingress only.
        #expect(compiled.verdicts[.egress]?.isEmpty == true)
    }

    @Test func namespaceAndPodSelectorInOnePeerAreAndedAndEndPortIsARange() throws {
        let compiled = try Fixture.load().compile("db-from-shop-web")
        let chainName = try #require(compiled.verdicts[.ingress]?[ip("10.244.1.20")])
        let allows = try #require(compiled.chains[chainName])
        guard case let .set(peers) = allows.first?.peers else { Issue.record("\(allows)"); return }
        #expect(
            compiled.addressSets[peers]?.map(\.description) == ["10.244.1.10", "10.244.2.11", "10.244.3.10", "fd00:244:1::10"],
            "app=web in prod and staging (team=shop), not prometheus, not the host-network pod")
        #expect(allows.first?.ports == .ranges([.init(proto: .tcp, first: 5432, last: 5440)]))
    }

    @Test func egressToNamedPortsOfPeersIpBlocksWithExceptAndAProtocolAlone() throws {
        let compiled = try Fixture.load().compile("web-egress")
        let chainName = try #require(compiled.verdicts[.egress]?[ip("10.244.1.10")])
        let allows = try #require(compiled.chains[chainName])
        #expect(allows.count == 3)
        guard case let .named(dns) = allows[0].ports else { Issue.record("\(allows)"); return }
        #expect(allows[0].peers == .any, "the port set holds the peers' addresses")
        #expect(compiled.portSets[dns] == [.init(address: ip("10.244.1.53"), proto: .udp, port: 5353)], "UDP only, the peer's port")
        guard case let .set(blocks) = allows[1].peers else { Issue.record("\(allows)"); return }
        #expect(allows[1].ports == .any)
        #expect(
            compiled.addressSets[blocks]?.map(\.description) == [
                "10.0.0.0-10.95.255.255", "10.112.0.0-10.243.255.255", "10.245.0.0-10.255.255.255",
                "fd00::-fd00:243:ffff:ffff:ffff:ffff:ffff:ffff", "fd00:245::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ])
        #expect(allows[2] == CompiledPolicies.Allow(peers: .any, ports: .ranges([.init(proto: .sctp, first: 0, last: 65535)])))
    }

    @Test func policyTypesDefaultToIngressPlusEgressWhenEgressIsGiven() throws {
        let policy = try #require(try Fixture.load().policies["web-egress"])
        #expect(policy.policyTypes == [.ingress, .egress])
        let compiled = try Fixture.load().compile("web-egress")
        // Ingress isolated with no ingress rule: the web pods take no connection at all.
        let ingress = try #require(compiled.verdicts[.ingress]?[ip("10.244.2.11")])
        #expect(compiled.chains[ingress] == [])
    }

    @Test func matchExpressionsAndPodsSelectedByManyPoliciesShareOneChainPerSet() throws {
        let compiled = try Fixture.load().compile("default-deny", "web-from-front-and-monitoring", "web-not-in-staging")
        let web1 = try #require(compiled.verdicts[.ingress]?[ip("10.244.1.10")])
        let web2 = try #require(compiled.verdicts[.ingress]?[ip("10.244.2.11")])
        let db = try #require(compiled.verdicts[.ingress]?[ip("10.244.1.20")])
        #expect(web1 == web2, "same three policies, one chain")
        #expect(web1 != db, "db: default-deny alone")
        #expect(compiled.chains[db] == [])
        #expect(compiled.chains.count == 2)
        // The chain holds default-deny's (none), then web-from-front's two, then web-not-in-staging's one.
        let allows = try #require(compiled.chains[web1])
        #expect(allows.count == 3)
        guard case let .set(notStaging) = allows[2].peers else { Issue.record("\(allows)"); return }
        #expect(
            compiled.addressSets[notStaging]?.map(\.description) == [
                "10.244.1.10", "10.244.1.20", "10.244.1.53", "10.244.2.11",
                "10.244.2.30", "fd00:244:1::10",
            ])
        #expect(compiled.selections["prod/web-1"]?[.ingress] == ["prod/default-deny", "prod/web-from-front-and-monitoring", "prod/web-not-in-staging"])
    }

    @Test func compilingTwiceGivesTheSameNames() throws {
        let fixture = try Fixture.load()
        let once = PolicyCompiler.compile(policies: Array(fixture.policies.values), pods: fixture.pods, namespaces: fixture.namespaces)
        let again = PolicyCompiler.compile(
            policies: Array(fixture.policies.values).reversed(), pods: fixture.pods.reversed(),
            namespaces: fixture.namespaces)
        #expect(once == again)
    }

    @Test(arguments: [
        ("{protocol: ICMP, port: 1}", "spec.ingress[0].ports[0].protocol: unknown protocol ICMP"),
        ("{port: 0}", "spec.ingress[0].ports[0].port: not a port number or name"),
        ("{port: 80, endPort: 79}", "spec.ingress[0].ports[0].endPort: below port 80"),
    ])
    func badPortsAreRefusedWithTheirPath(port: String, message: String) throws {
        let yaml = "metadata: {name: p, namespace: n}\nspec: {podSelector: {}, ingress: [{ports: [\(port)]}]}"
        #expect(
            throws: PolicyError(
                "NetworkPolicy n/p", String(message.split(separator: ":")[0]),
                message.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces))
        ) {
            _ = try NetworkPolicy(json: try Yams.load(yaml: yaml) as Any)
        }
    }

    @Test func aPeerWithNothingAndABadSelectorAreRefused() throws {
        #expect(throws: PolicyError("NetworkPolicy n/p", "spec.ingress[0].from[0]", "needs podSelector, namespaceSelector or ipBlock")) {
            _ = try NetworkPolicy(json: try Yams.load(yaml: "metadata: {name: p, namespace: n}\nspec: {podSelector: {}, ingress: [{from: [{}]}]}") as Any)
        }
        #expect(throws: PolicyError("NetworkPolicy n/p", "spec.podSelector.matchExpressions[0]", "unknown operator Near")) {
            _ = try NetworkPolicy(
                json: try Yams.load(yaml: "metadata: {name: p, namespace: n}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Near}]}}") as Any)
        }
    }
}

@Suite struct PolicyRulesetTests {
    /// Rules and chains depend on the policies alone: more pods are more set and map elements, nothing else.
    @Test func morePodsAreMoreElementsNeverMoreRules() throws {
        let fixture = try Fixture.load()
        let policies = Array(fixture.policies.values)
        let few = PolicyRuleset.image(PolicyCompiler.compile(policies: policies, pods: fixture.pods, namespaces: fixture.namespaces))
        let crowd = (0..<300).map { index in
            PolicyPod(
                namespace: "prod", name: "crowd-\(index)", labels: ["app": "web", "tier": "front"],
                addresses: [IPAddress(bytes: [10, 244, 100 + UInt8(index / 250), UInt8(index % 250 + 1)])!],
                namedPorts: [.init(name: "http", port: 8080, proto: .tcp)])
        }
        let many = PolicyRuleset.image(PolicyCompiler.compile(policies: policies, pods: fixture.pods + crowd, namespaces: fixture.namespaces))
        #expect(many.rules == few.rules)
        #expect(many.regularChains == few.regularChains)
        let fewElements: Int = few.elements.values.reduce(0) { $0 + $1.count }
        let manyElements: Int = many.elements.values.reduce(0) { $0 + $1.count }
        #expect(manyElements > fewElements + 300)
    }

    @Test func intervalsEndOnTheAddressAfterTheirLast() {
        let elements = PolicyRuleset.intervalElements(AddressInterval(ip("10.0.0.0"), ip("10.50.255.255")))
        #expect(elements == [.init(key: [10, 0, 0, 0]), .init(key: [10, 51, 0, 0], intervalEnd: true)])
        #expect(PolicyRuleset.intervalElements(AddressInterval(ip("255.255.255.0"), ip("255.255.255.255"))).count == 1, "no end past the last address")
    }
}

/// CIDRs as the API server accepts them: IPv4 with leading zeros is read as decimal (Go before 1.17 and
/// Kubernetes' ParseCIDRSloppy), so a policy stored in that form is enforced, not dropped.
@Suite struct APICIDRTests {
    @Test func leadingZerosAreDecimal() throws {
        #expect(NetworkPolicy.apiCIDR("010.001.000.000/16") == IPNetwork("10.1.0.0/16"))
        #expect(NetworkPolicy.apiCIDR("192.168.001.010/032") == IPNetwork("192.168.1.10/32"))
        #expect(NetworkPolicy.apiCIDR("10.1.0.0/16") == IPNetwork("10.1.0.0/16"), "the plain form")
        for bad in ["256.1.0.0/16", "10.1.0/16", "10.1.0.0.0/16", "0x0a.1.0.0/16", "10.1.0.0/ 16", "10.1.0.0", "1000.1.0.0/16"] {
            #expect(NetworkPolicy.apiCIDR(bad) == nil, "\(bad)")
        }
        let policy = try NetworkPolicy(json: [
            "metadata": ["name": "p", "namespace": "prod"],
            "spec": [
                "podSelector": [String: Any](),
                "ingress": [["from": [["ipBlock": ["cidr": "010.000.000.000/8", "except": ["010.051.000.000/16"]]]]]],
            ],
        ])
        #expect(policy.ingress.first?.peers == [.ipBlock(cidr: IPNetwork("10.0.0.0/8")!, except: [IPNetwork("10.51.0.0/16")!])])
    }
}
