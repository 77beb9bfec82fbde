import Foundation
import Testing
@testable import WeftPlugin

/// `networkPolicy` in ADD and DEL, in-process: weftd asked after the reservation and before the pod's
/// interface exists; when it cannot answer, the pod isolated or (failClosed) the ADD refused with code
/// 11 and everything undone; DEL letting go without ever failing.
@Suite struct PolicyGateTests {
    static let config = #"{"cniVersion":"1.0.0","name":"net","type":"weft","subnet":"10.9.0.0/24","dataDir":"DATA","networkPolicy":POLICY}"#
    static let pod = ["CNI_ARGS": "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c1"]

    func run(_ node: InProcessNode, _ command: String, policy: String = "{}", extra: [String: String] = pod) -> (status: Int32, json: [String: Any]?) {
        InProcessTests().run(node, command, config: Self.config.replacingOccurrences(of: "POLICY", with: policy), extra: extra)
    }

    func index(_ node: InProcessNode, _ prefix: String) -> Int? { node.log.firstIndex { $0.hasPrefix(prefix) } }

    @Test func weftdIsAskedAfterTheReservationBeforeTheInterface() throws {
        let node = InProcessNode()
        let add = run(node, "ADD")
        #expect(add.status == 0, "\(add.json ?? [:])")
        let attach = try #require(index(node, "policy: attach prod/web 10.9.0.2 at /run/weft/policy.sock"), "\(node.log)")
        #expect(try #require(index(node, "store: reserve")) < attach)
        #expect(attach < (try #require(index(node, "node: create veth"))))
        #expect(index(node, "policy: isolate") == nil)
        #expect(node.attachedPods == [PolicyPodIdentity(namespace: "prod", name: "web", uid: nil, sandbox: "c1")], "the claim names its sandbox")
        // Same-bridge traffic handed to the forward hook, where policies are enforced.
        #expect(node.log.contains("sysctl net/bridge/bridge-nf-call-iptables") && node.log.contains("sysctl net/bridge/bridge-nf-call-ip6tables"))
    }

    /// A repeated ADD of a sandbox whose reservation is held (its pod's interface gone) that fails at the
    /// veth undoes only what it made: the first ADD's claim, reservation and flows stay.
    /// The control: a first ADD failing at the same step releases its claim and reservation.
    @Test func aFailedRepeatedAddLeavesTheFirstAddsClaimAndFlows() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD").status == 0)
        node.podLinks.byIndex = node.podLinks.byIndex.filter { $0.value.name != "eth0" }
        node.log = []
        node.failAt = "node: create veth"
        let again = run(node, "ADD")
        #expect(again.status == 1, "\(again.json ?? [:])")
        #expect(node.log.contains { $0.hasPrefix("policy: attach") }, "the repeated ADD asked weftd again: \(node.log)")
        #expect(!node.log.contains { $0.hasPrefix("policy: release") || $0.hasPrefix("store: release") }, "\(node.log)")
        #expect(!node.log.contains("conntrack: delete flows"), "the first ADD's pod keeps its flows: \(node.log)")
        let first = InProcessNode()
        first.failAt = "node: create veth"
        #expect(run(first, "ADD").status == 1)
        #expect(first.log.contains { $0.hasPrefix("policy: release") } && first.log.contains("store: release"), "\(first.log)")
    }

    @Test func withoutAKubernetesPodThereIsNothingToAsk() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD", extra: [:]).status == 0)
        #expect(!node.log.contains { $0.hasPrefix("policy:") }, "\(node.log)")
        let plain = InProcessNode()
        #expect(
            InProcessTests().run(plain, "ADD", config: #"{"cniVersion":"1.0.0","name":"net","type":"weft","subnet":"10.9.0.0/24","dataDir":"DATA"}"#).status
                == 0)
        #expect(!plain.log.contains { $0.hasPrefix("sysctl net/bridge/") }, "no policy, no br_netfilter: \(plain.log)")
    }

    @Test func weftdUnableIsolatesThePodBeforeItHasAnInterface() throws {
        let node = InProcessNode()
        node.weftdProblem = "weftd's policy socket /run/weft/policy.sock: Connection refused"
        let add = run(node, "ADD", policy: #"{"failClosed": false, "socket": "/run/weft/other.sock"}"#)
        #expect(add.status == 0, "\(add.json ?? [:])")
        let isolate = try #require(index(node, "policy: isolate 10.9.0.2"), "\(node.log)")
        #expect(try #require(index(node, "policy: attach prod/web 10.9.0.2 at /run/weft/other.sock")) < isolate)
        #expect(isolate < (try #require(index(node, "node: create veth"))))
    }

    @Test func failClosedRefusesWithCode11AndUndoesTheReservation() throws {
        let node = InProcessNode()
        node.weftdProblem = "weftd has not listed pods, namespaces and policies yet"
        let add = run(node, "ADD", policy: #"{"failClosed": true}"#)
        #expect(add.status == 1)
        #expect(add.json?["code"] as? Int == 11, "\(add.json ?? [:])")
        #expect(add.json?["msg"] as? String == "NetworkPolicy for prod/web could not be installed: weftd has not listed pods, namespaces and policies yet")
        #expect((add.json?["details"] as? String)?.contains("failClosed") == true)
        #expect(node.log.last == "store: release", "\(node.log)")
        #expect(!node.log.contains { $0.hasPrefix("node: create veth") || $0.hasPrefix("policy: isolate") })
        // kubelet's retry, once weftd answers, succeeds with the same address.
        node.weftdProblem = nil
        #expect(run(node, "ADD", policy: #"{"failClosed": true}"#).status == 0)
    }

    @Test func aLaterFailureTakesBackTheVerdictsOrTheIsolation() throws {
        for problem in [nil, "weftd did not answer within 10 s"] {
            let node = InProcessNode()
            node.weftdProblem = problem
            node.failAt = "node: create veth"
            #expect(run(node, "ADD").status == 1)
            let undo = problem == nil ? "policy: release 10.9.0.2" : "policy: unisolate 10.9.0.2"
            let failed = try #require(index(node, "FAILED"))
            #expect(Array(node.log[(failed + 1)...]) == [undo, "store: release"], "\(node.log)")
        }
    }

    /// The policy steps' own failures are reported, not swallowed: an isolation the rollback could not
    /// lift (the address would start its next pod isolated until weftd knows it), and on DEL weftd not
    /// told and the isolation not lifted; DEL still succeeds and releases the address.
    @Test func policyStepsThatFailAreReportedAndDelStillSucceeds() throws {
        let node = InProcessNode()
        node.weftdProblem = "weftd did not answer within 10 s"
        node.failAt = "node: create veth"
        node.failAlso = "policy: unisolate"
        #expect(run(node, "ADD").status == 1)
        #expect(node.log.last == "store: release", "the steps after the failing undo ran: \(node.log)")
        #expect(node.reports.count == 1 && node.reports[0].contains("write policy: unisolate 10.9.0.2"), "\(node.reports)")

        let clean = InProcessNode()
        #expect(run(clean, "ADD").status == 0)
        clean.failAt = "policy: release"
        clean.failAlso = "policy: unisolate"
        #expect(run(clean, "DEL").status == 0)
        #expect(clean.log.last == "store: release", "\(clean.log)")
        #expect(clean.reports.count == 2, "\(clean.reports)")
        #expect(clean.reports.first { $0.contains("weftd was not told") } != nil, "\(clean.reports)")
        #expect(clean.reports.first { $0.contains("isolation table") } != nil, "\(clean.reports)")
        // Control: the same DEL with nothing failing reports nothing.
        let quiet = InProcessNode()
        #expect(run(quiet, "ADD").status == 0)
        #expect(run(quiet, "DEL").status == 0)
        #expect(quiet.reports.isEmpty, "\(quiet.reports)")
    }

    @Test func isolationRefusedFailsTheAddAndChangesNothing() throws {
        let node = InProcessNode()
        node.weftdProblem = "refused"
        node.failAt = "policy: isolate"
        let add = run(node, "ADD")
        #expect(add.json?["code"] as? Int == 100, "\(add.json ?? [:])")
        #expect(node.log.last == "store: release", "\(node.log)")
    }

    @Test func delLetsGoWhateverTheSettingSays() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD").status == 0)
        node.log = []
        // A DEL whose networkPolicy cannot be used still removes the pod (and asks nothing of weftd).
        #expect(run(node, "DEL", policy: #"{"socket": 7}"#).status == 0)
        #expect(node.log.contains("store: release") && !node.log.contains { $0.hasPrefix("policy:") }, "\(node.log)")
        let again = run(node, "ADD")
        let address = try #require(((again.json?["ips"] as? [[String: Any]])?.first?["address"] as? String)?.split(separator: "/").first)
        node.log = []
        #expect(run(node, "DEL").status == 0)
        #expect(node.log.contains("policy: release \(address)") && node.log.contains("policy: unisolate \(address)"), "\(node.log)")
    }

    @Test(arguments: [
        (#"{"socket": "run/weft.sock"}"#, 7, #"networkPolicy.socket "run/weft.sock" is not an absolute path of under 108 bytes"#),
        (#"{"failClosed": "yes"}"#, 7, "networkPolicy.failClosed"),
        (#"[]"#, 7, "networkPolicy"),
    ])
    func badSettingsAreRefusedBeforeAnythingChanges(policy: String, code: Int, message: String) throws {
        let node = InProcessNode()
        let add = run(node, "ADD", policy: policy)
        #expect(add.json?["code"] as? Int == code, "\(add.json ?? [:])")
        #expect((add.json?["msg"] as? String)?.contains(message) == true, "\(add.json ?? [:])")
        #expect(node.log.isEmpty, "\(node.log)")
    }

    @Test func theDeviceDatapathRefusesIt() throws {
        let node = InProcessNode()
        let config =
            #"{"cniVersion":"1.0.0","name":"net","type":"weft","subnet":"10.9.0.0/24","dataDir":"DATA","datapath":"device","devices":["eth9"],"networkPolicy":{}}"#
        let add = InProcessTests().run(node, "ADD", config: config, extra: Self.pod)
        #expect(add.json?["code"] as? Int == 7, "\(add.json ?? [:])")
        #expect((add.json?["msg"] as? String)?.contains("networkPolicy is not supported by datapath device") == true, "\(add.json ?? [:])")
        #expect(node.log.isEmpty, "\(node.log)")
    }
}
