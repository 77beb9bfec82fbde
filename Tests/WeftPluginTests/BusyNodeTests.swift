import Foundation
import Testing

/// What keeps ADD and DEL from growing with the pods on a node: DEL removes a pod's hostPorts by the
/// keys its store record names (asked for one by one, never a dump of every pod's), and only those
/// tagged as its own; without a record it falls back to finding them by tag.
@Suite(.privileged)
struct BusyNodeTests {
    func table(_ node: TestNode) throws -> String { try node.exec("nft", "list", "table", "inet", "weft").stdout }

    @Test func delNeverRemovesAnotherPodsHostPortItsRecordNames() throws {
        try withNode { node in
            _ = try node.add(containerID: "holder", netns: try node.addPod(), config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#))
            let other = try node.addPod()
            _ = try node.add(containerID: "other", netns: other, config: node.firewallConfig())
            // A record claiming a port it never got (as a failed ADD of a held reservation could leave).
            let record = "\(node.dataDir)/cbr0/owners/other:eth0"
            let text = try String(contentsOfFile: record, encoding: .utf8)
            try (text + "hostport=tcp/8080/80/\n").write(toFile: record, atomically: true, encoding: .utf8)
            #expect(try node.weft("DEL", containerID: "other", netns: other, config: node.firewallConfig()).status == 0)
            #expect(try table(node).contains("weft/cbr0/holder/eth0"), "the holder keeps its hostPort")
        }
    }

    @Test func delWithoutARecordStillFindsTheHostPortsByTag() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod, config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80,"protocol":"udp"}"#))
            try FileManager.default.removeItem(atPath: node.dataDir)
            #expect(try node.weft("DEL", containerID: "c1", netns: pod, config: node.firewallConfig()).status == 0)
            #expect(try !table(node).contains("weft/cbr0/c1/"))
        }
    }

    /// The table is rewritten only when this version's generation for the network is missing: a flushed
    /// ruleset comes back with the next ADD, every recorded pod's hostPorts with it.
    @Test func aFlushedRulesetComesBackWithTheGeneration() throws {
        try withNode { node in
            _ = try node.add(containerID: "a", netns: try node.addPod(), config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#))
            #expect(try table(node).contains("set generations"))
            try node.exec("nft", "flush", "ruleset")
            _ = try node.add(containerID: "b", netns: try node.addPod(), config: node.firewallConfig())
            let table = try table(node)
            #expect(table.contains("set generations"))
            #expect(table.contains("weft/cbr0/a/eth0"), "a's hostPort restored from its record")
            #expect(try node.nftRuleCount() == 13)
        }
    }
}
