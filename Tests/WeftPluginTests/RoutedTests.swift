import Foundation
import Testing
import WeftTestSupport

/// The routed datapath on a real node: no bridge, /32 addresses, a route per pod; with an uplink, a
/// stand-in for a cloud's underlay (a bridge, a gateway with an address behind it, a host of the "VPC").
@Suite(.privileged)
struct RoutedTests {
    func routedConfig(_ node: TestNode, extra: String = "") -> String {
        #"{"cniVersion":"1.0.0","name":"routed","type":"weft","datapath":"routed","subnet":"10.66.0.0/24","dataDir":"\#(node.dataDir)"\#(extra)}"#
    }

    /// Links, routes of every table, rules and neighbours (proxy entries too) of the node: what DEL must restore.
    func nodeState(_ node: TestNode) throws -> String {
        try node.settle()
        return try [["-o", "link", "show"], ["route", "show", "table", "all"], ["rule", "show"], ["neigh", "show", "proxy"]].map {
            try runProgram("/usr/sbin/ip", ["-n", node.name] + $0).stdout
        }.joined(separator: "\n--\n")
    }

    @Test func podsTalkTheNodeReachesThemAndDelLeavesNothing() throws {
        try withNode { node in
            try node.addOutside()  // the node's own address (192.0.2.1), as a real node has on its NIC
            let before = try nodeState(node)
            let a = try node.addPod(), b = try node.addPod()
            let resultA = try node.add(containerID: "a", netns: a, config: routedConfig(node))
            _ = try node.add(containerID: "b", netns: b, config: routedConfig(node))
            #expect(podAddress(resultA) == "10.66.0.2")
            #expect((resultA["ips"] as? [[String: Any]])?.first?["address"] as? String == "10.66.0.2/32")
            #expect(try node.execIn(a, "ip", "route").stdout.contains("default via 169.254.1.1 dev eth0"))
            #expect(try !node.links().contains("cni0"), "no bridge")
            #expect(try node.ping(from: a, to: "10.66.0.3"))
            #expect(try node.exec("ping", "-c", "1", "-W", "2", "10.66.0.2").status == 0, "the node reaches the pod")
            for (id, pod) in [("a", a), ("b", b)] {
                #expect(try node.weft("DEL", containerID: id, netns: pod, config: routedConfig(node)).status == 0)
            }
            #expect(try nodeState(node) == before)
            #expect(node.reservations(network: "routed").isEmpty)
        }
    }

    /// A pod that puts its neighbour's address on its own interface and announces it (gratuitous ARP)
    /// captures nothing: the node routes by /32 per veth, not by what ARP says.
    @Test func aPodAnnouncingItsNeighboursAddressCapturesNothing() throws {
        try withNode { node in
            try node.addOutside()
            let thief = try node.addPod(), victim = try node.addPod(), client = try node.addPod()
            for (id, pod) in [("thief", thief), ("victim", victim), ("client", client)] {
                _ = try node.add(containerID: id, netns: pod, config: routedConfig(node))
            }
            // victim is 10.66.0.3
            try node.serve(in: victim, port: 7000, reply: "victim")
            try node.execIn(thief, "ip", "addr", "add", "10.66.0.3/32", "dev", "eth0")
            try node.serve(in: thief, port: 7000, reply: "thief")
            try node.execIn(thief, "busybox", "arping", "-U", "-c", "2", "-I", "eth0", "-s", "10.66.0.3", "10.66.0.3")
            #expect(try node.request(from: client, to: "10.66.0.3", port: 7000).hasPrefix("victim"))
            #expect(try node.request(from: "", to: "10.66.0.3", port: 7000).hasPrefix("victim"))
        }
    }

    /// Routed and bridge networks side by side on one node: neither disturbs the other's pods.
    @Test func aRoutedNetworkBesideABridgeNetwork() throws {
        try withNode { node in
            try node.addOutside()
            let bridged = try node.addPod(), routed = try node.addPod()
            _ = try node.add(containerID: "br", netns: bridged)
            _ = try node.add(containerID: "rt", netns: routed, config: routedConfig(node))
            #expect(try node.ping(from: bridged, to: "10.244.1.1"))
            #expect(try node.exec("ping", "-c", "1", "-W", "2", "10.66.0.2").status == 0)
            #expect(try node.weft("DEL", containerID: "rt", netns: routed, config: routedConfig(node)).status == 0)
            #expect(try node.ping(from: bridged, to: "10.244.1.1"), "the bridge pod is untouched")
            #expect(node.reservations() == ["br:eth0"])
        }
    }

    /// hostPorts and bandwidth are the same machinery on the routed datapath.
    @Test func aRoutedPodsHostPortAndBandwidth() throws {
        try withNode { node in
            let outside = try node.addOutside()
            let pod = try node.addPod()
            let extra =
                #","runtimeConfig":{"portMappings":[{"HostPort":8080,"ContainerPort":80}],"# + #""bandwidth":{"ingressRate":8000000,"ingressBurst":800000}}"#
            let result = try node.add(containerID: "web", netns: pod, config: routedConfig(node, extra: extra))
            try node.serve(in: pod, port: 80, reply: "web")
            #expect(try node.request(from: outside, to: TestNode.nodeAddress, port: 8080) == "web peer=\(TestNode.outsideAddress)")
            #expect(try node.request(from: "", to: "127.0.0.1", port: 8080).hasPrefix("web"), "the node via localhost")
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[0]["name"]) as? String)
            #expect(try node.exec("tc", "qdisc", "show", "dev", hostVeth).stdout.contains("tbf"))
            #expect(try node.weft("DEL", containerID: "web", netns: pod, config: routedConfig(node, extra: extra)).status == 0)
            #expect(try !node.exec("nft", "list", "table", "inet", "weft").stdout.contains("weft/routed/"))
        }
    }

    @Test(arguments: ["add-after-reserve", "add-after-veth", "add-after-pod"])
    func killedDuringAddThenDelLeavesNothing(step: String) throws {
        try withNode { node in
            let before = try nodeState(node)
            let pod = try node.addPod()
            let killed = try runProgram(
                "/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.debugBinary("weft")], input: routedConfig(node),
                environment: [
                    "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "victim", "CNI_NETNS": pod, "CNI_IFNAME": "eth0",
                    "WEFT_TEST_KILL_AT": step,
                ])
            #expect(killed.signal == SIGKILL)
            #expect(try node.weft("DEL", containerID: "victim", netns: pod, config: routedConfig(node)).status == 0)
            #expect(try nodeState(node) == before)
            #expect(node.reservations(network: "routed").isEmpty)
        }
    }

    @Test func checkNamesAMissingNodeRoute() throws {
        try withNode { node in
            let pod = try node.addPod()
            let result = try node.add(containerID: "c1", netns: pod, config: routedConfig(node))
            var object = try #require(try JSONSerialization.jsonObject(with: Data(routedConfig(node).utf8)) as? [String: Any])
            object["prevResult"] = result
            let check = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            #expect(try node.weft("CHECK", containerID: "c1", netns: pod, config: check).status == 0)
            try node.exec("ip", "route", "del", "10.66.0.2/32")
            let failed = try node.weft("CHECK", containerID: "c1", netns: pod, config: check)
            #expect((failed.json?["msg"] as? String)?.contains("the node's route to 10.66.0.2 through") == true, "\(failed.stdout)")
        }
    }

    @Test(arguments: [
        (#","hairpinMode":true"#, "hairpinMode is not taken by datapath routed"),
        (#","delegate":{"isDefaultGateway":true}"#, "delegate is not taken by datapath routed"),
        (#","uplink":{"device":"eni0","gateway":"10.66.0.1"},"ipMasq":true"#, "ipMasq is not taken by datapath routed with an uplink"),
    ])
    func keysTheDatapathDoesNotTakeAreRefused(extra: String, message: String) throws {
        try withNode { node in
            let pod = try node.addPod()
            let before = try node.snapshot()
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: routedConfig(node, extra: extra))
            #expect(add.json?["code"] as? Int == 7)
            #expect(add.json?["msg"] as? String == message)
            #expect(try node.snapshot() == before)
        }
    }
}
