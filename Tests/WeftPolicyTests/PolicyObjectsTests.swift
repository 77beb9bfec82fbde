import Foundation
import Testing
import WeftAddress
import WeftAgent
@testable import WeftPolicy

/// Pods, Namespaces and NetworkPolicies decoded as the informer delivers them (JSONSerialization
/// objects of the API's JSON): every field the compiler reads, a field that cannot be read named by its
/// key path, a field the API adds ignored, and a policy that cannot be read isolating what it selects.
@Suite struct PolicyObjectsTests {
    static func network(_ text: String) -> IPNetwork { IPNetwork(text)! }

    /// The informer's form of a JSON text.
    static func object(_ json: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(json.utf8)) }

    static func policy(spec: String) throws -> Any {
        try object(#"{"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "prod"}, "spec": \#(spec)}"#)
    }

    static let everyField = """
        {"podSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "NotIn", "values": ["yes"]},
            {"key": "team", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"}]},
         "policyTypes": ["Ingress", "Egress"],
         "ingress": [{"from": [
             {"podSelector": {"matchLabels": {"app": "client"}}},
             {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {}},
             {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
           "ports": [{"protocol": "TCP", "port": 80}, {"port": "http"}, {"protocol": "UDP", "port": 5000, "endPort": 5010}, {"protocol": "SCTP"}]}],
         "egress": [{"to": [{"ipBlock": {"cidr": "fd00::/8"}}]}, {}]}
        """

    @Test func everyFieldTheCompilerReadsIsDecoded() throws {
        let policy = try NetworkPolicy(json: try Self.policy(spec: Self.everyField))
        #expect(policy.key == "prod/p")
        #expect(policy.policyTypes == [.ingress, .egress])
        #expect(policy.podSelector.matchLabels == ["app": "web"])
        #expect(
            policy.podSelector.requirements == [
                .init(key: "tier", op: .in, values: ["front", "edge"]), .init(key: "canary", op: .notIn, values: ["yes"]),
                .init(key: "team", op: .exists, values: []), .init(key: "legacy", op: .doesNotExist, values: []),
            ])
        let rule = try #require(policy.ingress.first)
        #expect(
            rule.peers == [
                .pods(podSelector: LabelSelector(matchLabels: ["app": "client"]), namespaceSelector: nil),
                .pods(podSelector: .everything, namespaceSelector: LabelSelector(matchLabels: ["team": "a"])),
                .ipBlock(cidr: Self.network("10.0.0.0/8"), except: [Self.network("10.1.0.0/16")]),
            ])
        #expect(
            rule.ports == [
                .init(proto: .tcp, value: .number(80), endPort: nil), .init(proto: .tcp, value: .name("http"), endPort: nil),
                .init(proto: .udp, value: .number(5000), endPort: 5010), .init(proto: .sctp, value: .any, endPort: nil),
            ])
        #expect(policy.egress == [.init(peers: [.ipBlock(cidr: Self.network("fd00::/8"), except: [])], ports: []), .init(peers: [], ports: [])])
    }

    @Test func policyTypesDefaultAsTheAPIDoes() throws {
        #expect(try NetworkPolicy(json: try Self.policy(spec: #"{"podSelector": {}}"#)).policyTypes == [.ingress])
        #expect(try NetworkPolicy(json: try Self.policy(spec: #"{"podSelector": {}, "egress": []}"#)).policyTypes == [.ingress, .egress])
        let bare = try NetworkPolicy(json: try Self.object(#"{"metadata": {"name": "p"}}"#))
        #expect(bare.key == "default/p" && bare.podSelector == .everything && bare.policyTypes == [.ingress])
    }

    /// Fields a newer API adds are ignored at every level, so a newer API server's policy is read.
    @Test func unknownFieldsAreIgnored() throws {
        let known = try NetworkPolicy(json: try Self.policy(spec: Self.everyField))
        let newer = try NetworkPolicy(
            json: try Self.object(
                #"""
                {"apiVersion": "networking.k8s.io/v1", "status": {"conditions": []}, "metadata": {"name": "p", "namespace": "prod", "generation": 3},
                 "spec": {"podSelector": {"matchLabels": {"app": "web"}, "matchFields": []}, "policyTypes": ["Ingress"], "futureSpec": {"a": 1},
                  "ingress": [{"from": [{"podSelector": {}, "futurePeer": true}], "ports": [{"port": 80, "futurePort": "x"}], "futureRule": 1}]}}
                """#))
        #expect(newer.podSelector == LabelSelector(matchLabels: ["app": "web"]))
        #expect(
            newer.ingress == [
                .init(peers: [.pods(podSelector: .everything, namespaceSelector: nil)], ports: [.init(proto: .tcp, value: .number(80), endPort: nil)])
            ])
        #expect(known.ingress.count == 1, "the control: the same decoder reads the known fields")
    }

    @Test(arguments: [
        (#"{"podSelector": {"matchLabels": {"app": 1}}}"#, "spec.podSelector.matchLabels.app", "expected a string"),
        (#"{"podSelector": {}, "ingress": {"from": []}}"#, "spec.ingress", "expected a list"),
        (#"{"podSelector": {}, "ingress": [{"from": [{"podSelector": []}]}]}"#, "spec.ingress[0].from[0].podSelector", "expected an object"),
        (#"{"podSelector": {}, "ingress": [{"ports": [{"port": true}]}]}"#, "spec.ingress[0].ports[0].port", "not a port number or name"),
        (
            #"{"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["fd00::/8"]}}]}]}"#,
            "spec.egress[0].to[0].ipBlock.except[0]", "not a CIDR of the block's family"
        ),
        (#"{"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]}"#, "spec.egress[0].to[0].ipBlock.cidr", "not a CIDR"),
        (
            #"{"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]}]}"#,
            "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0]", "unknown operator Near"
        ),
        (#"{"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}"#, "spec.podSelector.matchExpressions[0]", "In needs values"),
        (#"{"podSelector": {}, "policyTypes": ["Sideways"]}"#, "spec.policyTypes[0]", "not Ingress or Egress"),
    ])
    func aFieldThatCannotBeReadIsNamedByItsKeyPath(spec: String, path: String, problem: String) throws {
        #expect(throws: PolicyError("NetworkPolicy prod/p", path, problem)) { try NetworkPolicy(json: try Self.policy(spec: spec)) }
        #expect(try NetworkPolicy(json: try Self.policy(spec: #"{"podSelector": {}}"#)).key == "prod/p", "the control: the same object, readable")
    }

    /// Never open: what cannot be read of a policy's rules (a wrong-typed field, an unknown operator, a
    /// bad ipBlock) leaves it isolating the pods it selects, for the directions it names.
    @Test(arguments: [
        #"{"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": [{"ports": "80"}]}"#,
        #"{"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]}]}"#,
        #"{"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}"#,
    ])
    func aPolicyWhoseRulesCannotBeReadIsolatesWhatItSelects(spec: String) throws {
        let object = PolicyAPIObject(try Self.policy(spec: spec))
        #expect(throws: PolicyError.self) { try object.decode(NetworkPolicy.self, kind: "NetworkPolicy") }
        let isolating = try #require(NetworkPolicy.unreadable(object))
        #expect(isolating.key == "prod/p" && isolating.policyTypes == [.ingress] && isolating.ingress.isEmpty && isolating.egress.isEmpty)
        let web = PolicyPod(namespace: "prod", name: "web", labels: ["app": "web"], addresses: [ip("10.9.0.2")])
        let other = PolicyPod(namespace: "prod", name: "other", labels: ["app": "other"], addresses: [ip("10.9.0.3")])
        let compiled = PolicyCompiler.compile(policies: [isolating], pods: [web, other], namespaces: [PolicyNamespace(name: "prod")])
        let chain = try #require(compiled.verdicts[.ingress]?[ip("10.9.0.2")], "web is isolated")
        #expect(compiled.chains[chain]?.isEmpty == true, "and allowed nothing")
        #expect(compiled.verdicts[.ingress]?[ip("10.9.0.3")] == nil, "the control: a pod it does not select is not")
        #expect(compiled.verdicts[.egress]?.isEmpty ?? true, "Egress is not named")
    }

    /// What cannot be read of the spec itself (not an object, a selector or policyTypes of the wrong
    /// type): every pod of the namespace, both directions. Without a name, the same, named "(no name)";
    /// without a namespace, nil (the agent isolates every namespace).
    @Test(arguments: [
        #"{"metadata": {"name": "p", "namespace": "prod"}, "spec": 5}"#,
        #"{"metadata": {"name": "p", "namespace": "prod"}, "spec": [{"podSelector": {}}]}"#,
        #"{"metadata": {"name": "p", "namespace": "prod"}, "spec": "deny"}"#,
        #"{"metadata": {"name": "p", "namespace": "prod"}, "spec": {"podSelector": {"matchLabels": "app"}, "policyTypes": ["Ingress"]}}"#,
        #"{"metadata": {"name": "p", "namespace": "prod"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", 5]}}"#,
        #"{"metadata": {"namespace": "prod"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": 1}}"#,
    ])
    func aPolicyWhoseSpecOrSelectorCannotBeReadIsolatesItsNamespace(json: String) throws {
        let object = PolicyAPIObject(try Self.object(json))
        #expect(throws: PolicyError.self) { try object.decode(NetworkPolicy.self, kind: "NetworkPolicy") }
        let isolating = try #require(NetworkPolicy.unreadable(object))
        #expect(isolating.namespace == "prod" && isolating.policyTypes == [.ingress, .egress] && isolating.ingress.isEmpty && isolating.egress.isEmpty)
        let expectsEveryPod = object.name != nil
        #expect(isolating.podSelector.matches(["app": "other"]) == expectsEveryPod, "every pod of prod, unless only the name is missing")
        #expect(isolating.podSelector.matches(["app": "web"]))
        #expect(isolating.name == object.name ?? "(no name)")
    }

    @Test func aPolicyWithoutANamespaceIsLeftToTheCaller() throws {
        #expect(NetworkPolicy.unreadable(PolicyAPIObject(try Self.object(#"{"metadata": {"name": "p"}, "spec": 5}"#))) == nil)
        #expect(NetworkPolicy.unreadable(PolicyAPIObject(try Self.object(#"{"metadata": 5}"#))) == nil)
        #expect(
            NetworkPolicy.unreadable(PolicyAPIObject(try Self.object(#"{"metadata": {"name": "p", "namespace": "prod"}, "spec": 5}"#))) != nil, "the control")
        let unreadableTypes = PolicyAPIObject(try Self.policy(spec: #"{"podSelector": {}, "policyTypes": "Ingress", "ingress": 1}"#))
        #expect(NetworkPolicy.unreadable(unreadableTypes)?.policyTypes == [.ingress, .egress], "the control: readable enough, both directions")
    }

    @Test func podsAndNamespacesAreDecoded() throws {
        let pod = try PolicyPod(
            json: try Self.object(
                #"""
                {"metadata": {"name": "web", "namespace": "prod", "uid": "u1", "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z", "future": 1},
                 "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9000},
                   {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
                 "status": {"phase": "Running", "podIPs": [{"ip": "10.9.0.2"}, {"ip": "fd00::2"}], "podIP": "10.9.0.2"}}
                """#))
        #expect(pod.key == "prod/web" && pod.uid == "u1" && pod.ending && pod.nodeName == "n1" && !pod.hostNetwork)
        #expect(pod.labels == ["app": "web"])
        #expect(pod.addresses == [ip("10.9.0.2"), ip("fd00::2")])
        #expect(pod.namedPorts == [.init(name: "http", port: 8080, proto: .tcp), .init(name: "dns", port: 53, proto: .udp)])
        let finished = try PolicyPod(json: try Self.object(#"{"metadata": {"name": "job"}, "status": {"phase": "Succeeded", "podIP": "10.9.0.4"}}"#))
        #expect(finished.key == "default/job" && finished.addresses.isEmpty && finished.ending)
        #expect(throws: PolicyError("Pod prod/web", "spec.hostNetwork", "expected true or false")) {
            try PolicyPod(json: try Self.object(#"{"metadata": {"name": "web", "namespace": "prod"}, "spec": {"hostNetwork": "yes"}}"#))
        }
        let namespace = try PolicyNamespace(
            json: try Self.object(#"{"metadata": {"name": "prod", "labels": {"team": "a"}}, "spec": {"finalizers": ["kubernetes"]}}"#))
        #expect(namespace == PolicyNamespace(name: "prod", labels: ["team": "a"]))
        #expect(throws: PolicyError("Namespace prod", "metadata.labels.team", "expected a string")) {
            try PolicyNamespace(json: try Self.object(#"{"metadata": {"name": "prod", "labels": {"team": 1}}}"#))
        }
    }
}
