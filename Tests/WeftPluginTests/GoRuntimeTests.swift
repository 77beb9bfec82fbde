import Foundation
import Testing

/// What containerd's and CRI-O's go-cni send: capability arguments marshalled from Go structs without
/// JSON tags, and the same runtimeConfig again on DEL. DEL and GC must succeed whatever config they
/// cannot use; ADD and CHECK refuse it with the node untouched.
@Suite(.privileged)
struct GoRuntimeTests {
    /// Byte for byte the runtimeConfig libcni writes under containerd 1.6 for `hostPort: 18080`.
    static let goCNIHostPort = #"{"HostPort":18080,"ContainerPort":80,"Protocol":"tcp","HostIP":""}"#
    /// A runtimeConfig and prevResult nothing can use.
    static let unusable = #","runtimeConfig":{"portMappings":[{"hostPort":"x"}],"ips":5},"prevResult":{"ips":[{"address":"nope"}]}"#

    func elements(_ node: TestNode) throws -> String {
        try node.exec("nft", "list", "table", "inet", "weft").stdout
    }

    @Test func aGoCNIHostPortIsServedAndRemovedByDel() throws {
        try withNode { node in
            let outside = try node.addOutside()
            let pod = try node.addPod()
            let config = node.firewallConfig(ipMasq: false, mappings: Self.goCNIHostPort)
            _ = try node.add(containerID: "web", netns: pod, config: config)
            try node.serve(in: pod, port: 80, reply: "web")
            #expect(try node.request(from: outside, to: TestNode.nodeAddress, port: 18080) == "web peer=\(TestNode.outsideAddress)")
            let del = try node.weft("DEL", containerID: "web", netns: pod, config: config)
            #expect(del.status == 0, "\(del.stdout)")
            #expect(try !elements(node).contains("weft/cbr0/"))
            #expect(node.reservations().isEmpty)
        }
    }

    @Test func delIgnoresARuntimeConfigAndPrevResultItCannotUse() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod, config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#))
            let config = node.config(version: "1.0.0", extra: Self.unusable)
            let del = try node.weft("DEL", containerID: "c1", netns: pod, config: config)
            #expect(del.status == 0, "\(del.stdout)")
            #expect(node.reservations().isEmpty)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
            #expect(try !elements(node).contains("weft/cbr0/"))
            #expect(try node.weft("DEL", containerID: "c1", netns: pod, config: config).status == 0, "and again")
        }
    }

    @Test func gcIgnoresARuntimeConfigAndPrevResultItCannotUse() throws {
        try withNode { node in
            _ = try node.add(containerID: "keep", netns: try node.addPod())
            _ = try node.add(containerID: "drop", netns: try node.addPod())
            let config = node.config(version: "1.1.0", extra: Self.unusable + #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#)
            let gc = try node.weft("GC", ifname: "", config: config)
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(node.reservations() == ["keep:eth0"])
        }
    }

    @Test func addAndCheckStillRefuseIt() throws {
        try withNode { node in
            let pod = try node.addPod()
            let before = try node.snapshot()
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: node.config(version: "1.0.0", extra: Self.unusable))
            #expect(add.json?["code"] as? Int == 7)
            #expect(add.json?["msg"] as? String == #"prevResult has an invalid value {"ips":[{"address":"nope"}]}"#)
            #expect(try node.snapshot() == before)

            _ = try node.add(containerID: "c1", netns: pod, config: node.config(version: "1.0.0"))
            let check = try node.weft("CHECK", containerID: "c1", netns: pod, config: node.config(version: "1.0.0", extra: Self.unusable))
            #expect(check.json?["code"] as? Int == 7)
        }
    }
}
