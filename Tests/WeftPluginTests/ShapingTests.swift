import Foundation
import Testing
import WeftTestSupport

/// Per-pod bandwidth on a real node: rates measured with iperf3 against a host outside the node.
@Suite(.privileged)
struct ShapingTests {
    static let limits = #""bandwidth":{"IngressRate":16000000,"IngressBurst":1600000,"EgressRate":8000000,"EgressBurst":800000}"#

    func shapedConfig(_ node: TestNode, bandwidth: String = limits) -> String {
        node.config(
            version: "1.0.0", extra: #","runtimeConfig":{\#(bandwidth)}"#,
            delegate: #""hairpinMode":true,"isDefaultGateway":true,"ipMasq":true"#)
    }

    /// An iperf3 server on the outside host, until cleanup; returns once it listens (a loaded machine
    /// may take seconds), or fails the test.
    func startServer(_ node: TestNode, outside: String) throws {
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        let server = try spawnProgram(
            "/usr/sbin/ip",
            [
                "netns", "exec", URL(fileURLWithPath: outside).lastPathComponent,
                "iperf3", "-s", "-B", TestNode.outsideAddress,
            ],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], stdin: null, stdout: null, stderr: null)
        node.servers.append(server)
        for _ in 0..<400 {
            if try node.execIn(outside, "ss", "-ltn").stdout.contains("\(TestNode.outsideAddress):5201 ") { return }
            usleep(50_000)
        }
        throw TestFailure("the iperf3 server never listened")
    }

    /// Bits per second iperf3 measured from `pod` to the outside host (`reverse`: from the outside to the
    /// pod); a run the loaded machine spoils (no report) is tried again, for up to a minute.
    func measure(_ node: TestNode, from pod: String, reverse: Bool) throws -> Double {
        var output = ""
        for _ in 0..<20 {
            let result = try node.execIn(
                pod, "timeout", "-s", "KILL", "20", "iperf3", "-c", TestNode.outsideAddress,
                "-t", "3", "-O", "1", "-J", reverse ? "-R" : "-4")
            output = result.stdout + result.stderr
            if result.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
                let rate = received["bits_per_second"] as? Double
            {
                return rate
            }
            usleep(500_000)
        }
        throw TestFailure("iperf3 never measured: \(output.suffix(500))")
    }

    @Test func measuredRatesShapeEgressAndIngressAndAnUnshapedPodIsNot() throws {
        try withNode { node in
            let outside = try node.addOutside()
            let shaped = try node.addPod(), free = try node.addPod()
            _ = try node.add(containerID: "shaped", netns: shaped, config: shapedConfig(node))
            _ = try node.add(containerID: "free", netns: free, config: node.firewallConfig())
            try startServer(node, outside: outside)
            let egress = try measure(node, from: shaped, reverse: false)
            let ingress = try measure(node, from: shaped, reverse: true)
            let unshaped = try measure(node, from: free, reverse: false)
            print("shaping: egress \(Int(egress)) bit/s (8 Mbit/s wanted), ingress \(Int(ingress)) bit/s (16 Mbit/s wanted), unshaped \(Int(unshaped)) bit/s")
            #expect((0.75...1.15).contains(egress / 8_000_000), "egress \(egress)")
            #expect((0.75...1.15).contains(ingress / 16_000_000), "ingress \(ingress)")
            #expect(unshaped > 2 * 16_000_000, "the control: an unshaped pod on the same node is not limited (\(unshaped))")
        }
    }

    @Test(arguments: [
        (#""bandwidth":{"egressRate":8000000}"#, "runtimeConfig.bandwidth.egressRate 8000000 is set without runtimeConfig.bandwidth.egressBurst"),
        (#""bandwidth":{"ingressBurst":1000}"#, "runtimeConfig.bandwidth.ingressBurst 1000 is set without runtimeConfig.bandwidth.ingressRate"),
        (#""bandwidth":{"egressRate":-8,"egressBurst":800}"#, "runtimeConfig.bandwidth.egressRate -8 is negative"),
        (#""bandwidth":{"egressRate":0,"egressBurst":800}"#, "runtimeConfig.bandwidth.egressRate 0 is below 8 bits per second"),
        (#""bandwidth":{"ingressRate":8000.5,"ingressBurst":800}"#, "runtimeConfig.bandwidth.ingressRate 8000.5 is not a whole number"),
        (#""bandwidth":{"ingressRate":99999999999999999999,"ingressBurst":800}"#, "runtimeConfig.bandwidth.ingressRate 99999999999999999999 is too large"),
    ])
    func badValuesAreRefusedWithThePodUntouched(bandwidth: String, message: String) throws {
        try withNode { node in
            let pod = try node.addPod()
            let before = try node.snapshot()
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: shapedConfig(node, bandwidth: bandwidth))
            #expect(add.json?["code"] as? Int == 7)
            #expect(add.json?["msg"] as? String == message)
            #expect(try node.snapshot() == before)
            #expect(try node.execIn(pod, "ip", "-o", "link").stdout.split(separator: "\n").count == 1)
        }
    }

    @Test func checkReportsAQdiscRemovedByHandAndDelLeavesNoIFB() throws {
        try withNode { node in
            let pod = try node.addPod()
            let config = shapedConfig(node)
            let result = try node.add(containerID: "c1", netns: pod, config: config)
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            let ifb = "ifb" + hostVeth.dropFirst(4)
            #expect(try node.exec("tc", "qdisc", "show", "dev", hostVeth).stdout.contains("tbf"))
            #expect(try node.exec("tc", "qdisc", "show", "dev", ifb).stdout.contains("tbf"))
            var object = try #require(try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any])
            object["prevResult"] = result
            let checkConfig = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            #expect(try node.weft("CHECK", containerID: "c1", netns: pod, config: checkConfig).status == 0)

            try node.exec("tc", "qdisc", "del", "dev", ifb, "root")
            let check = try node.weft("CHECK", containerID: "c1", netns: pod, config: checkConfig)
            #expect(check.json?["code"] as? Int == 102)
            #expect((check.json?["msg"] as? String)?.contains("ifb \(ifb) (egress shaping) has no tbf qdisc") == true, "\(check.stdout)")

            try node.deletePod(pod)
            #expect(try node.weft("DEL", containerID: "c1", netns: pod, config: config).status == 0, "DEL without the netns")
            #expect(try !node.links().contains { $0.hasPrefix("ifb") || $0.hasPrefix("veth") })
        }
    }

    @Test func gcRemovesTheIFBsOfUnlistedAttachments() throws {
        try withNode { node in
            _ = try node.add(containerID: "keep", netns: try node.addPod(), config: shapedConfig(node))
            _ = try node.add(containerID: "drop", netns: try node.addPod(), config: shapedConfig(node))
            #expect(try node.links().filter { $0.hasPrefix("ifb") }.count == 2)
            let gc = node.config(version: "1.1.0", extra: #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#)
            #expect(try node.weft("GC", ifname: "", config: gc).status == 0)
            #expect(try node.links().filter { $0.hasPrefix("ifb") }.count == 1)
        }
    }

    /// A sandbox whose netns vanished without a DEL leaves its IFB; the next ADD of that attachment, with
    /// other rates, takes the IFB over and replaces its shaping.
    @Test func aReAddWithOtherRatesUpdatesThem() throws {
        try withNode { node in
            let first = try node.addPod()
            _ = try node.add(containerID: "c1", netns: first, config: shapedConfig(node))
            try node.deletePod(first)
            // The kernel destroys a netns (and the veth pair with it) asynchronously once its last user is gone.
            for _ in 0..<100 where try node.links().contains(where: { $0.hasPrefix("veth") }) { usleep(50_000) }
            let faster = #""bandwidth":{"IngressRate":16000000,"IngressBurst":1600000,"EgressRate":32000000,"EgressBurst":3200000}"#
            let result = try node.add(containerID: "c1", netns: try node.addPod(), config: shapedConfig(node, bandwidth: faster))
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            let ifb = "ifb" + hostVeth.dropFirst(4)
            #expect(try node.exec("tc", "qdisc", "show", "dev", ifb).stdout.contains("rate 32Mbit"))
            #expect(try node.links().filter { $0.hasPrefix("ifb") }.count == 1)
        }
    }

    /// The network's own `bandwidth` shapes pods that bring none.
    @Test func theNetworksDefaultShapesEveryPod() throws {
        try withNode { node in
            let config = node.config(version: "1.0.0", extra: #","bandwidth":{"ingressRate":4000000,"ingressBurst":400000}"#)
            let result = try node.add(containerID: "c1", netns: try node.addPod(), config: config)
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            #expect(try node.exec("tc", "qdisc", "show", "dev", hostVeth).stdout.contains("rate 4Mbit"))
            #expect(try !node.links().contains { $0.hasPrefix("ifb") }, "no egress limit, no IFB")
        }
    }
}
