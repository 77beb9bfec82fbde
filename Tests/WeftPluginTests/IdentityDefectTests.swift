import Foundation
import Testing
import WeftIdentity
import WeftTestSupport

/// Defects of the attachment's identity and of what DEL, GC and reclaim remove, each reproduced on a
/// real node namespace.
@Suite(.privileged)
struct IdentityDefectTests {
    static let longID = String(repeating: "a1b2c3d4e5", count: 25) + "abc"  // 253 bytes, the most validation takes

    func table(_ node: TestNode) throws -> String { try node.exec("nft", "list", "table", "inet", "weft").stdout }

    /// DEL deleted the links named after an attachment without asking whose they were: another plugin's
    /// veth (the reference bridge plugin names its veths "veth" + 8 random hex digits) or IFB that has the
    /// name went with it. Now only a link whose alias names the attachment, or that has no alias (an ADD
    /// killed before it set one), is deleted.
    @Test func delDeletesOnlyLinksWhoseAliasNamesTheAttachment() throws {
        try withNode { node in
            let foreign = AttachmentID(network: "cbr0", containerID: "foreign", ifname: "eth0")
            let unaliased = AttachmentID(network: "cbr0", containerID: "unaliased", ifname: "eth0")
            let ours = AttachmentID(network: "cbr0", containerID: "ours", ifname: "eth0")
            for (id, alias) in [(foreign, "bridge plugin's pod"), (unaliased, ""), (ours, ours.alias(addresses: ["10.244.1.9"]))] {
                try node.exec("ip", "link", "add", id.hostVethName, "type", "veth", "peer", "name", "p-\(id.containerID)")
                try node.exec("ip", "link", "add", id.ifbName, "type", "ifb")
                if !alias.isEmpty {
                    for name in [id.hostVethName, id.ifbName] { try node.exec("ip", "link", "set", name, "alias", alias) }
                }
            }
            for id in [foreign, unaliased, ours] {
                let del = try node.weft("DEL", containerID: id.containerID, config: node.config())
                #expect(del.status == 0, "\(del.stdout) \(del.stderr)")
            }
            let left = try node.links()
            #expect(left.contains(foreign.hostVethName) && left.contains(foreign.ifbName), "another's links stay: \(left)")
            for id in [unaliased, ours] {
                #expect(!left.contains(id.hostVethName) && !left.contains(id.ifbName), "\(id.containerID)'s links go: \(left)")
            }
        }
    }

    /// A 253-byte container ID made ADD fail ("File name too long") and every DEL exit 1 after it.
    @Test func theLongestValidContainerIDIsAddedAndDeleted() throws {
        try withNode { node in
            let pod = try node.addPod()
            let config = node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#)
            let result = try node.add(containerID: Self.longID, netns: pod, config: config)
            #expect(podAddress(result) == "10.244.1.2")
            #expect(try node.ping(from: pod, to: "10.244.1.1"))
            #expect(node.reservations().count == 1)
            let del = try node.weft("DEL", containerID: Self.longID, netns: pod, config: config)
            #expect(del.status == 0, "\(del.stdout)")
            #expect(node.reservations().isEmpty)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
            #expect(try !table(node).contains("weft/cbr0/"))
        }
    }

    /// A 150-byte network name: the element's comment was cut at 200 bytes while DEL compared the whole
    /// tag, so DEL left the hostPort and the next pod got 101 "held by …".
    @Test func aLongNetworkNamesHostPortIsRemovedByDel() throws {
        try withNode { node in
            let network = String(repeating: "n", count: 150)
            let config = node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#)
                .replacingOccurrences(of: #""name":"cbr0""#, with: #""name":"\#(network)""#)
            let id = String(repeating: "f", count: 64)
            let pod = try node.addPod()
            _ = try node.add(containerID: id, netns: pod, config: config)
            #expect(try table(node).contains("8080"))
            #expect(try node.weft("DEL", containerID: id, netns: pod, config: config).status == 0)
            let after = try table(node)
            #expect(!after.contains("weft/"), "\(after)")
            _ = try node.add(containerID: "next", netns: try node.addPod(), config: config)
        }
    }

    @Test func promiscModePutsTheBridgeInPromiscuousMode() throws {
        try withNode { node in
            _ = try node.add(
                containerID: "c1", netns: try node.addPod(),
                config: node.config(delegate: #""hairpinMode":false,"promiscMode":true"#))
            #expect(try node.exec("ip", "link", "show", "cni0").stdout.contains("PROMISC"))
        }
    }

    @Test func withoutPromiscModeTheBridgeIsNotPromiscuous() throws {
        try withNode { node in
            _ = try node.add(containerID: "c1", netns: try node.addPod())
            #expect(try !node.exec("ip", "link", "show", "cni0").stdout.contains("PROMISC"))
        }
    }

    /// A full range reclaims the address of a pod whose netns is gone; its hostPort went with it only
    /// from now on: before, the next holder of the address got the dead pod's hostPort traffic and a pod
    /// asking for the port got 101 naming a container that no longer existed.
    @Test func aReclaimedReservationTakesItsHostPortsWithIt() throws {
        try withNode(subnetEnv: "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/29\nFLANNEL_IPMASQ=true\n") { node in
            var pods: [String] = []
            for index in 0..<5 {
                let pod = try node.addPod()
                pods.append(pod)
                _ = try node.add(
                    containerID: "p\(index)", netns: pod,
                    config: node.firewallConfig(mappings: #"{"hostPort":\#(9000 + index),"containerPort":80}"#))
            }
            try node.deletePod(pods[2])
            let sixth = try node.addPod()
            let result = try node.add(containerID: "p5", netns: sixth, config: node.firewallConfig(mappings: #"{"hostPort":9002,"containerPort":80}"#))
            #expect(podAddress(result) == "10.244.1.4", "the dead pod's address")
            let table = try table(node)
            #expect(!table.contains("weft/cbr0/p2/"), "\(table)")
            #expect(table.contains("weft/cbr0/p5/eth0"))
        }
    }

    @Test func weftctlIpamGcRemovesTheHostPortsOfWhatItReclaims() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "gone", netns: pod, config: node.firewallConfig(mappings: #"{"hostPort":9100,"containerPort":80}"#))
            try node.deletePod(pod)
            let gc = try runProgram("/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.binary("weftctl"), "ipam", "gc", "--data-dir", node.dataDir])
            #expect(gc.status == 0, "\(gc.stderr)")
            #expect(gc.stdout.contains("released cbr0: container gone interface eth0"), "\(gc.stdout)")
            #expect(try !table(node).contains("weft/cbr0/gone/"))
            #expect(node.reservations().isEmpty)
        }
    }

    /// IPv6 only: the MAC was the low 32 bits of the address, so these two pods shared one.
    @Test func ipv6OnlyPodsWithTheSameLowBitsTalk() throws {
        try withNode { node in
            let config = #"{"cniVersion":"1.0.0","name":"v6","type":"weft","dataDir":"\#(node.dataDir)","ipam":{"subnet":"fd00:84::/64"}}"#
            let a = try node.addPod(), b = try node.addPod()
            _ = try node.weft("ADD", containerID: "a", netns: a, config: config, extraEnvironment: ["CNI_ARGS": "IP=fd00:84::2"])
            _ = try node.weft("ADD", containerID: "b", netns: b, config: config, extraEnvironment: ["CNI_ARGS": "IP=fd00:84::1:0:0:2"])
            let macA = try node.execIn(a, "cat", "/sys/class/net/eth0/address").stdout
            let macB = try node.execIn(b, "cat", "/sys/class/net/eth0/address").stdout
            #expect(macA != macB)
            #expect(try !node.exec("cat", "/sys/class/net/cni0/address").stdout.isEmpty)
            var reached = false
            for _ in 0..<10 where !reached {
                // A fresh veth takes about a second before IPv6 neighbour discovery answers across it.
                reached = try node.execIn(a, "ping", "-6", "-c", "1", "-W", "1", "fd00:84::1:0:0:2").status == 0
            }
            #expect(reached)
        }
    }

    /// A DEL for a container that never existed took down another container's working eth0 when the
    /// derived host veth was missing: DEL removes only what it can prove is its own.
    @Test func delRemovesOnlyItsOwnInterface() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "real", netns: pod)
            #expect(try node.weft("DEL", containerID: "ghost", netns: pod, config: node.config()).status == 0)
            let otherNetwork = node.config().replacingOccurrences(of: #""name":"cbr0""#, with: #""name":"other""#)
            #expect(try node.weft("DEL", containerID: "real", netns: pod, config: otherNetwork).status == 0)
            #expect(try node.ping(from: pod, to: "10.244.1.1"), "the real container's eth0 still works")
            #expect(node.reservations() == ["real:eth0"])
        }
    }

    /// A host end renamed by someone else is still found through its alias, and removed by its own DEL.
    @Test func delFindsARenamedHostEndThroughItsAlias() throws {
        try withNode { node in
            let pod = try node.addPod()
            let result = try node.add(containerID: "c1", netns: pod)
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            try node.exec("ip", "link", "set", hostVeth, "down")
            try node.exec("ip", "link", "set", hostVeth, "name", "renamed0")
            #expect(try node.weft("DEL", containerID: "c1", netns: pod, config: node.config()).status == 0)
            #expect(try !node.links().contains("renamed0"))
            #expect(try node.execIn(pod, "ip", "-o", "link").stdout.split(separator: "\n").count == 1)
        }
    }

    /// kill -9 inside a write leaves a `.tmp-*` file; GC and `weftctl ipam gc` remove them.
    @Test func orphanedTemporaryFilesAreRemovedByGC() throws {
        try withNode { node in
            _ = try node.add(containerID: "c1", netns: try node.addPod())
            let store = "\(node.dataDir)/cbr0"
            // devices/ too (a writer killed inside a device claim): made here, as a device node has it.
            try FileManager.default.createDirectory(atPath: "\(store)/devices", withIntermediateDirectories: true)
            for directory in [store, "\(store)/owners", "\(store)/ips", "\(store)/devices"] {
                FileManager.default.createFile(atPath: "\(directory)/.tmp-AbC123", contents: Data())
            }
            let gc = node.config(version: "1.1.0", extra: #","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]"#)
            #expect(try node.weft("GC", ifname: "", config: gc).status == 0)
            let left = (FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? []).filter { $0.contains(".tmp-") }
            #expect(left.isEmpty, "\(left)")
            FileManager.default.createFile(atPath: "\(store)/owners/.tmp-XyZ789", contents: Data())
            _ = try runProgram("/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.binary("weftctl"), "ipam", "gc", "--data-dir", node.dataDir])
            #expect(!FileManager.default.fileExists(atPath: "\(store)/owners/.tmp-XyZ789"))
            #expect(node.reservations() == ["c1:eth0"])
        }
    }

    @Test func nftUninstallSaysWhenThereWasNoTable() throws {
        try withNode { node in
            let result = try runProgram("/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.binary("weftctl"), "nft", "uninstall"])
            #expect(result.status == 0)
            #expect(result.stdout == "no table inet weft: nothing to remove\n")
        }
    }
}
