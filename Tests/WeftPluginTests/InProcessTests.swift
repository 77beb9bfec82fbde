import Foundation
import Testing
import WeftIdentity
import WeftIPAM
import WeftNetlink
@testable import WeftPlugin

/// The dispatcher and ADD's rollback, run in-process against an injected node: no root, no kernel.
@Suite struct InProcessTests {
    static let config =
        #"{"cniVersion":"1.0.0","name":"net","type":"weft","subnet":"10.9.0.0/24","ipMasq":true,"dataDir":"DATA","#
        + #""runtimeConfig":{"portMappings":[{"HostPort":8080,"ContainerPort":80,"Protocol":"udp"}],"#
        + #""bandwidth":{"IngressRate":16000000,"IngressBurst":160000,"EgressRate":8000000,"EgressBurst":80000}}}"#

    func run(
        _ node: InProcessNode, _ command: String, containerID: String = "c1", config: String = config,
        extra: [String: String] = [:]
    ) -> (status: Int32, json: [String: Any]?) {
        var environment = ["CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": node.pod.path, "CNI_IFNAME": "eth0"]
        environment.merge(extra) { $1 }
        let input = Data(config.replacingOccurrences(of: "DATA", with: node.dataDir).utf8)
        let outcome = Plugin.run(environment: environment, input: input, node: node.node)
        return (outcome.status, (try? JSONSerialization.jsonObject(with: outcome.output)) as? [String: Any])
    }

    /// What a successful ADD does, in order: the log every rollback test below is checked against.
    static let addSteps = [
        "node: create bridge cni0", "node: add address 10.9.0.1/24", "sysctl net/ipv6/conf/cni0/accept_ra",
        "store: reserve", "conntrack: delete flows", "node: create veth", "node: set alias", "node: set hairpin",
        "sysctl net/ipv6/conf/veth", "pod: set up lo", "pod: set up eth0", "pod: add address 10.9.0.2/24",
        "shaper: shape host veth", "shaper: create ifb", "shaper: shape ifb",
        "store: record hostPorts", "firewall: commit", "sysctl net/ipv4/conf/cni0/route_localnet",
        "conntrack: delete udp flows to hostPorts",
    ]

    @Test func addDoesEachStepInOrder() throws {
        let node = InProcessNode()
        let add = run(node, "ADD")
        #expect(add.status == 0, "\(add.json ?? [:])")
        let steps = node.log.filter { !$0.hasPrefix("node: set up") }
        #expect(steps.count == Self.addSteps.count, "\(steps)")
        for (done, expected) in zip(steps, Self.addSteps) { #expect(done.hasPrefix(expected), "\(steps)") }
    }

    /// A failure at any step of ADD undoes, in reverse order, everything the attachment made before it:
    /// the hostPorts (once committed) and their UDP flows, the IFB, the veth, the reservation; the node is
    /// as it was. The bridge and its address, shared by every pod, stay.
    @Test(arguments: addSteps)
    func aFailedAddUndoesEverythingInReverse(failing step: String) throws {
        let node = InProcessNode()
        node.failAt = step
        let add = run(node, "ADD")
        #expect(add.status == 1)
        // The injected failure is a refused system call: an I/O failure naming it, whatever the step.
        #expect(add.json?["code"] as? Int == 5, "\(add.json ?? [:])")
        #expect((add.json?["msg"] as? String)?.contains("write \(step)") == true, "\(add.json ?? [:])")
        let failedAt = try #require(node.log.firstIndex { $0.hasPrefix("FAILED") })
        let done = Array(node.log[..<failedAt]), undone = Array(node.log[(failedAt + 1)...])
        var expectedUndo: [String] = []
        if done.contains("firewall: commit") { expectedUndo += ["firewall: remove", "conntrack: delete udp flows of pod"] }
        if done.contains("shaper: create ifb") { expectedUndo.append("shaper: remove ifb") }
        if done.contains(where: { $0.hasPrefix("node: create veth") }) { expectedUndo.append("node: delete link veth") }
        if done.contains("store: reserve") { expectedUndo.append("store: release") }
        #expect(undone.count == expectedUndo.count, "\(node.log)")
        for (step, expected) in zip(undone, expectedUndo) { #expect(step.hasPrefix(expected), "\(node.log)") }
        #expect(node.firewallElements.isEmpty, "no hostPort left behind")
        #expect(node.ifbs.isEmpty, "no IFB left behind")
        #expect(try node.nodeLinks.links().filter { $0.kind == "veth" }.isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/net/owners")) ?? [] == [])
    }

    /// An undo step that fails neither stops the ones after it nor hides the ADD's own error; it is
    /// reported (stderr in the field), naming both.
    @Test func aFailingUndoStepIsReportedAndTheRestStillRun() throws {
        let node = InProcessNode()
        node.failAt = "conntrack: delete udp flows to hostPorts"
        node.failAlso = "node: delete link veth"
        let add = run(node, "ADD")
        #expect(add.status == 1)
        #expect(
            (add.json?["msg"] as? String)?.contains("write conntrack: delete udp flows to hostPorts") == true,
            "the ADD's own error: \(add.json ?? [:])")
        let undone = Array(node.log.drop { !$0.hasPrefix("FAILED conntrack: delete udp flows to hostPorts") }.dropFirst())
        let expected = [
            "firewall: remove", "conntrack: delete udp flows of pod", "shaper: remove ifb", "FAILED node: delete link veth",
            "store: release",
        ]
        #expect(undone.count == expected.count, "\(node.log)")
        for (step, prefix) in zip(undone, expected) { #expect(step.hasPrefix(prefix), "\(node.log)") }
        #expect(node.reports.count == 1, "\(node.reports)")
        #expect(
            node.reports.first.map { $0.contains("write conntrack: delete udp flows to hostPorts") && $0.contains("write node: delete link veth") } == true,
            "\(node.reports)")
        // Control: a rollback whose steps all succeed reports nothing.
        let clean = InProcessNode()
        clean.failAt = "conntrack: delete udp flows to hostPorts"
        #expect(run(clean, "ADD").status == 1)
        #expect(clean.reports.isEmpty, "\(clean.reports)")
    }

    /// DEL's conntrack flush is best effort: a failure is reported and DEL still removes everything.
    @Test func aDelWhoseFlowFlushFailsReportsItAndSucceeds() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD").status == 0)
        node.failAlso = "conntrack: delete flows"
        let del = run(node, "DEL")
        #expect(del.status == 0, "\(del.json ?? [:])")
        #expect(node.reports.count == 1 && node.reports[0].contains("conntrack"), "\(node.reports)")
        #expect(node.log.last == "store: release", "\(node.log)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/net/owners")) ?? [] == [])
    }

    @Test func delUndoesAddWhateverItsConfigSays() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD").status == 0)
        node.log = []
        let del = run(node, "DEL", config: #"{"cniVersion":"1.0.0","name":"net","type":"weft","dataDir":"DATA","mtu":"x","runtimeConfig":5}"#)
        #expect(del.status == 0, "\(del.json ?? [:])")
        // The links and the hostPorts go side by side (Overlap); the reservation only after both.
        let steps = node.log.map { $0.components(separatedBy: " veth").first ?? $0 }
        #expect(
            Set(steps.prefix(4)) == ["node: delete link", "shaper: remove ifb", "firewall: remove", "conntrack: delete udp flows of pod"],
            "\(steps)")
        #expect(steps.firstIndex(of: "node: delete link")! < steps.firstIndex(of: "shaper: remove ifb")!)
        #expect(steps.firstIndex(of: "firewall: remove")! < steps.firstIndex(of: "conntrack: delete udp flows of pod")!)
        // Then every flow naming the pod's addresses, and the reservation last.
        #expect(Array(steps.suffix(2)) == ["conntrack: delete flows", "store: release"], "\(steps)")
        #expect(steps.count == 6)
        #expect(try node.podLinks.links().map(\.name) == ["lo"])
    }

    @Test func delOfAnotherContainerLeavesThisOnesInterface() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD").status == 0)
        node.log = []
        #expect(run(node, "DEL", containerID: "ghost").status == 0)
        #expect(!node.log.contains { $0.contains("delete") }, "\(node.log)")
        #expect(try node.podLinks.link(named: "eth0") != nil)
    }

    @Test func dispatcherAnswersInTheRequestedVersion() throws {
        let node = InProcessNode()
        let old = Self.config.replacingOccurrences(of: #""cniVersion":"1.0.0""#, with: #""cniVersion":"0.3.1""#)
        let add = run(node, "ADD", config: old)
        #expect(add.json?["cniVersion"] as? String == "0.3.1")
        #expect(((add.json?["ips"] as? [[String: Any]])?.first?["version"]) as? String == "4")
        let check = run(node, "CHECK", config: old)
        #expect(check.json?["code"] as? Int == 1, "CHECK needs 0.4.0")
        let version = run(node, "VERSION", config: "")
        #expect(version.status == 0)
        #expect((version.json?["supportedVersions"] as? [String])?.contains("1.1.0") == true)
    }

    /// A failed system call is an I/O failure naming the call and its object (code 5), never "the kernel
    /// refused a netlink request" (code 100), which only netlink replies are.
    @Test func eachLayersErrorIsMappedAtTheEdge() {
        let node = InProcessNode()
        node.failAt = "sysctl net/ipv6/conf/cni0"
        let sysctl = run(node, "ADD")
        #expect(sysctl.json?["code"] as? Int == 5)
        #expect(sysctl.json?["msg"] as? String == "write sysctl net/ipv6/conf/cni0/accept_ra: Permission denied")
        node.failAt = "node: create veth"
        node.failure = NetlinkError("create veth", errno: EPERM, kernelMessage: "nope")
        let netlink = run(node, "ADD")
        #expect(netlink.json?["code"] as? Int == 100)
        #expect(netlink.json?["msg"] as? String == "create veth: Operation not permitted (kernel: nope)")
        // A value netlink cannot encode is refused before anything is sent: the config's fault (7), not the kernel's.
        node.failAt = "shaper: shape host veth"
        node.failure = NetlinkError.invalid("shape traffic", "token bucket rate 7 bit/s is below 1 byte/s")
        let invalid = run(node, "ADD")
        #expect(invalid.json?["code"] as? Int == 7, "\(invalid.json ?? [:])")
        #expect(invalid.json?["msg"] as? String == "shape traffic: token bucket rate 7 bit/s is below 1 byte/s")
        node.failAt = "store: reserve"
        node.failure = IPAMError.exhausted(range: "10.9.0.0/24", held: 253, stale: 0)
        let full = run(node, "ADD")
        #expect(full.json?["code"] as? Int == 11)
        #expect(full.json?["msg"] as? String == "no IP addresses available in range set: 10.9.0.0/24")
    }

    @Test func gcGetsTheListAndRemovesTheRest() throws {
        let node = InProcessNode()
        #expect(run(node, "ADD", containerID: "keep").status == 0)
        #expect(run(node, "ADD", containerID: "drop", extra: ["CNI_IFNAME": "eth1"]).status == 0)
        node.log = []
        let gc = #"{"cniVersion":"1.1.0","name":"net","type":"weft","dataDir":"DATA","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]}"#
        let result = run(node, "GC", config: gc)
        #expect(result.status == 0, "\(result.json ?? [:])")
        #expect(node.firewallElements.keys.sorted() == ["weft/net/keep/eth0"])
        #expect(try node.nodeLinks.links().filter { $0.kind == "veth" }.count == 1)
    }
}
