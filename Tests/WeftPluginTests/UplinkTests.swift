import Foundation
import Testing
import WeftTestSupport

/// The routed datapath with an uplink (Terway's shared ENI), against a stand-in for a cloud network: an
/// underlay bridge, a gateway with an address behind it (198.51.100.1), a host of the "VPC"
/// (192.168.60.50), and the node's "ENI" (eni0, 192.168.60.10) on that underlay. The node's own default
/// route leads nowhere (a decoy), so a pod that reaches 198.51.100.1 went through the uplink.
@Suite(.privileged)
struct UplinkTests {
    static let behindGateway = "198.51.100.1"
    static let vpcHost = "192.168.60.50"

    func uplinkConfig(_ node: TestNode) -> String {
        #"{"cniVersion":"1.0.0","name":"vpc","type":"weft","datapath":"routed","dataDir":"\#(node.dataDir)","#
            + #""uplink":{"device":"eni0","gateway":"192.168.60.1"},"#
            + #""ipam":{"ranges":[[{"subnet":"192.168.60.0/24","rangeStart":"192.168.60.100","rangeEnd":"192.168.60.199","gateway":"192.168.60.1"}]]}}"#
    }

    /// Returns (underlay, gateway, host) namespace paths.
    func buildUnderlay(_ node: TestNode) throws -> (String, String, String) {
        let underlay = try node.addPod("und"), gateway = try node.addPod("gw"), host = try node.addPod("vpc")
        let name = { (path: String) in URL(fileURLWithPath: path).lastPathComponent }
        try node.execIn(underlay, "ip", "link", "add", "br0", "type", "bridge")
        try node.execIn(underlay, "ip", "link", "set", "br0", "up")
        for (peer, port, address) in [(gateway, "p-gw", "192.168.60.1/24"), (host, "p-host", "192.168.60.50/24")] {
            try node.execIn(underlay, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name(peer))
            try node.execIn(underlay, "ip", "link", "set", port, "master", "br0", "up")
            try node.execIn(peer, "ip", "addr", "add", address, "dev", "eth0")
            try node.execIn(peer, "ip", "link", "set", "eth0", "up")
            try node.execIn(peer, "ip", "link", "set", "lo", "up")
        }
        try node.execIn(gateway, "ip", "addr", "add", "\(Self.behindGateway)/32", "dev", "lo")
        try node.execIn(gateway, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        try node.execIn(host, "ip", "route", "add", "default", "via", "192.168.60.1")
        // The node's ENI on the underlay, and a decoy default route in its main table.
        try node.exec("ip", "link", "add", "eni0", "type", "veth", "peer", "name", "p-node", "netns", name(underlay))
        try node.execIn(underlay, "ip", "link", "set", "p-node", "master", "br0", "up")
        try node.exec("ip", "addr", "add", "192.168.60.10/24", "dev", "eni0")
        try node.exec("ip", "link", "set", "eni0", "up")
        let decoy = try node.addPod("decoy")
        try node.exec("ip", "link", "add", "decoy0", "type", "veth", "peer", "name", "eth0", "netns", name(decoy))
        try node.exec("ip", "addr", "add", "203.0.113.1/24", "dev", "decoy0")
        try node.exec("ip", "link", "set", "decoy0", "up")
        try node.exec("ip", "route", "add", "default", "via", "203.0.113.2")
        return (underlay, gateway, host)
    }

    @Test func theUnderlayReachesThePodAndThePodLeavesByTheUplinkUnderItsOwnAddress() throws {
        try withNode { node in
            let (_, gateway, host) = try buildUnderlay(node)
            let pod = try node.addPod()
            let result = try node.add(containerID: "p1", netns: pod, config: uplinkConfig(node))
            let address = try #require(podAddress(result))
            #expect(address == "192.168.60.100")
            try node.serve(in: pod, port: 7000, reply: "pod")
            #expect(try node.request(from: host, to: address, port: 7000) == "pod peer=\(Self.vpcHost)", "no NAT: the pod sees the VPC host's address")
            try node.serve(in: gateway, port: 7001, reply: "internet")
            #expect(
                try node.request(from: pod, to: Self.behindGateway, port: 7001) == "internet peer=\(address)",
                "through the uplink's gateway, with the pod's own address")
            #expect(try node.exec("ip", "rule").stdout.contains("from 192.168.60.100 lookup"))

            #expect(try node.weft("DEL", containerID: "p1", netns: pod, config: uplinkConfig(node)).status == 0)
            #expect(try !node.exec("ip", "rule").stdout.contains("192.168.60.100"))
            #expect(try node.exec("ip", "neigh", "show", "proxy").stdout.isEmpty)
            #expect(try !node.exec("ip", "route", "show", "table", "all").stdout.contains("192.168.60.100"))
        }
    }

    @Test func delWithoutTheNetnsRemovesTheRulesAndProxyEntries() throws {
        try withNode { node in
            _ = try buildUnderlay(node)
            let pod = try node.addPod()
            _ = try node.add(containerID: "p1", netns: pod, config: uplinkConfig(node))
            try node.deletePod(pod)
            #expect(try node.weft("DEL", containerID: "p1", netns: pod, config: uplinkConfig(node)).status == 0)
            #expect(try !node.exec("ip", "rule").stdout.contains("192.168.60.100"))
            #expect(try node.exec("ip", "neigh", "show", "proxy").stdout.isEmpty)
        }
    }

    @Test func killedAfterTheRulesThenDelLeavesNothing() throws {
        try withNode { node in
            _ = try buildUnderlay(node)
            let pod = try node.addPod()
            let rulesBefore = try node.exec("ip", "rule").stdout
            let killed = try runProgram(
                "/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.debugBinary("weft")], input: uplinkConfig(node),
                environment: [
                    "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "victim", "CNI_NETNS": pod, "CNI_IFNAME": "eth0",
                    "WEFT_TEST_KILL_AT": "add-after-uplink",
                ])
            #expect(killed.signal == SIGKILL)
            #expect(try node.weft("DEL", containerID: "victim", netns: pod, config: uplinkConfig(node)).status == 0)
            #expect(try node.exec("ip", "rule").stdout == rulesBefore)
            #expect(try node.exec("ip", "neigh", "show", "proxy").stdout.isEmpty)
        }
    }
}
