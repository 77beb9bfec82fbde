import Foundation
import Testing
import WeftTestSupport

/// What the DaemonSet relies on, with weftd's kube backend against the fake API server in throwaway
/// namespaces: the conflist appears only once subnet.env and the fabric are in place, the Node's
/// NetworkUnavailable turns False then, a lost lease turns it True and leaves the conflist, and
/// --iface-regex picks the link flanneld would.
@Suite(.serialized, .privileged)
struct NodeReadinessTests {
    static let conflist = #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft","bridge":"cni0","ipMasq":true,"isDefaultGateway":true}]}"#

    /// The Node's status.conditions as the fake API server holds them.
    static func conditions(_ cluster: TestCluster, _ node: String) -> [[String: Any]] {
        guard let text = try? cluster.kube("GET", "/api/v1/nodes/\(node)").stdout,
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return [] }
        return ((object["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
    }

    static func networkUnavailable(_ cluster: TestCluster, _ node: String) -> (status: String, reason: String)? {
        conditions(cluster, node).first { $0["type"] as? String == "NetworkUnavailable" }
            .map { ($0["status"] as? String ?? "", $0["reason"] as? String ?? "") }
    }

    static func annotation(_ cluster: TestCluster, _ node: String, _ key: String) -> String? {
        guard let text = try? cluster.kube("GET", "/api/v1/nodes/\(node)").stdout,
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return nil }
        return ((object["metadata"] as? [String: Any])?["annotations"] as? [String: String])?["flannel.alpha.coreos.com/\(key)"]
    }

    @Test func theConflistFollowsSubnetAndFabricThenNetworkUnavailableTurnsFalse() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#, engine: .fakeKube)
        defer { cluster.cleanup() }
        let nodes = try (1...2).map { try TestNodeAgent(cluster, number: $0) }
        let source = "\(cluster.directory)/cni-conf.json"
        try Self.conflist.write(toFile: source, atomically: true, encoding: .utf8)
        let destination = nodes.map { "\($0.directory)/net.d/10-weft.conflist" }
        // n1 registers before the controller-manager gave it a podCIDR; n2 has one.
        try cluster.kube("POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"n1"},"spec":{}}"#)
        try cluster.kube("POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"n2"},"spec":{"podCIDR":"10.244.32.0/24"}}"#)
        for (node, path) in zip(nodes, destination) {
            try node.start(extra: ["--cni-conf-source", source, "--cni-conf-dest", path])
        }

        // Positive control first: n2, with its podCIDR, gets subnet.env, the conflist and the condition.
        #expect(try nodes[1].leasedSubnet() == "10.244.32.1/24")
        #expect(
            waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: destination[1]) } != nil,
            "\(nodes[1].weftd?.log.suffix(3000) ?? "")")
        #expect(waitUntil(timeout: 30) { Self.networkUnavailable(cluster, "n2").map { $0 == ("False", "WeftIsUp") } == true } != nil)

        // n1 has no podCIDR: weftd runs and says what it waits for, and nothing tells the runtime the
        // network is ready: no subnet.env, no conflist, no condition.
        let waiting = waitUntil(timeout: 30) { (try? nodes[0].healthz())?.contains("no lease yet") == true }
        #expect(waiting != nil, "healthz: \((try? nodes[0].healthz()) ?? "no answer")")
        #expect(try nodes[0].healthz().hasSuffix(" 503"))
        #expect(!FileManager.default.fileExists(atPath: destination[0]))
        #expect(!FileManager.default.fileExists(atPath: nodes[0].subnetFile))
        #expect(Self.networkUnavailable(cluster, "n1") == nil)

        // The controller-manager assigns it. The first time the conflist is seen, subnet.env, the vxlan
        // device and the route to n2 are there already (weftd writes the conflist after them).
        try cluster.kube("PATCH", "/api/v1/nodes/n1", body: #"{"spec":{"podCIDR":"10.244.31.0/24"}}"#)
        let appeared = waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: destination[0]) }
        #expect(appeared != nil, "\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        let subnetEnv = (try? String(contentsOfFile: nodes[0].subnetFile, encoding: .utf8)) ?? ""
        let route = try nodes[0].exec("ip", "route", "show", "10.244.32.0/24").stdout
        let device = try nodes[0].exec("ip", "-d", "link", "show", "weft.1").stdout
        #expect(subnetEnv.contains("FLANNEL_SUBNET=10.244.31.1/24"), "subnet.env: \(subnetEnv)")
        #expect(subnetEnv.contains("FLANNEL_MTU=1450"), "the underlay's 1500 less vxlan's 50: \(subnetEnv)")
        #expect(route.contains("dev weft.1"), "route to n2: \(route)")
        #expect(device.contains("vxlan id 1") && device.contains("dstport 8472"), "\(device)")
        #expect(try String(contentsOfFile: destination[0], encoding: .utf8) == Self.conflist)

        // Then NetworkUnavailable=False, reason WeftIsUp, and /healthz says both.
        #expect(
            waitUntil(timeout: 30) { Self.networkUnavailable(cluster, "n1").map { $0 == ("False", "WeftIsUp") } == true } != nil,
            "\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        let healthy = waitUntil(timeout: 30) { (try? nodes[0].healthz())?.hasSuffix(" 200") == true }
        #expect(healthy != nil)
        let health = try nodes[0].healthz()
        #expect(health.contains("conflist \(destination[0]) in place") && health.contains("NetworkUnavailable=False (WeftIsUp)"), "\(health)")

        // A ConfigMap edit reaches the node: a changed source is copied again.
        let edited = Self.conflist.replacingOccurrences(of: #""ipMasq":true"#, with: #""ipMasq":false"#)
        try edited.write(toFile: source, atomically: true, encoding: .utf8)
        #expect(waitUntil(timeout: 30) { (try? String(contentsOfFile: destination[0], encoding: .utf8)) == edited } != nil)

        // A lost lease: a Node that claims n1's podCIDR from another address. weftd gives the subnet up,
        // turns NetworkUnavailable True (the node gets tainted NoSchedule) and leaves the conflist, so
        // the runtime can still tear down the pods that run there.
        try cluster.kube(
            "POST", "/api/v1/nodes",
            body: #"""
                {"kind":"Node","metadata":{"name":"intruder","annotations":{"flannel.alpha.coreos.com/kube-subnet-manager":"true",
                 "flannel.alpha.coreos.com/public-ip":"10.77.0.99","flannel.alpha.coreos.com/backend-type":"vxlan",
                 "flannel.alpha.coreos.com/backend-data":"{\"VNI\":1,\"VtepMAC\":\"0e:57:0a:4d:00:63\"}"}},
                 "spec":{"podCIDR":"10.244.31.0/24"}}
                """#)
        #expect(
            waitUntil(timeout: 30) { Self.networkUnavailable(cluster, "n1").map { $0 == ("True", "WeftLeaseLost") } == true } != nil,
            "\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(try nodes[0].healthz().contains("lease lost"))
        #expect(FileManager.default.fileExists(atPath: destination[0]))
        #expect(!FileManager.default.fileExists(atPath: nodes[0].subnetFile))
        // n2 is untouched.
        #expect(Self.networkUnavailable(cluster, "n2").map { $0 == ("False", "WeftIsUp") } == true)
    }

    @Test func ifaceRegexPicksTheLinkFlanneldWould() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, engine: .fakeKube)
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0) }
        // Each node has a second link, `data0`, beside eth0 (10.77.0.1N): 10.88.0.1N/24 (a veth whose peer
        // stays in the namespace: this kernel has no dummy driver).
        for (index, node) in nodes.enumerated() {
            let added = try ip("-n", node.namespace, "link", "add", "data0", "type", "veth", "peer", "name", "data0p")
            guard added.status == 0 else { throw TestFailure("data0: \(added.stderr)") }
            try ip("-n", node.namespace, "addr", "add", "10.88.0.\(11 + index)/24", "dev", "data0")
            try ip("-n", node.namespace, "link", "set", "data0", "up")
            try cluster.kube(
                "POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"\#(node.label)"},"spec":{"podCIDR":"10.244.\#(41 + index).0/24"}}"#)
        }
        // By address: data0's, and its address is the PublicIP.
        try nodes[0].start(iface: ["--iface-regex", #"^10\.88\."#])
        // By name, through the variable the DaemonSet sets from the ConfigMap: eth0, its first address.
        try nodes[1].start(iface: [], environment: ["WEFT_IFACE_REGEX": "^eth"])
        // Negative: nothing matches; weftd refuses to start and names the links.
        try nodes[2].start(iface: ["--iface-regex", "^wlan", "--iface-regex", #"^192\.168\."#])

        #expect(try nodes[0].leasedSubnet() == "10.244.41.1/24")
        #expect(try nodes[1].leasedSubnet() == "10.244.42.1/24")
        #expect(
            waitUntil(timeout: 30) { Self.annotation(cluster, "n1", "public-ip") == "10.88.0.11" } != nil,
            "\(nodes[0].weftd?.log.suffix(2000) ?? "")")
        #expect(
            waitUntil(timeout: 30) { Self.annotation(cluster, "n2", "public-ip") == "10.77.0.12" } != nil,
            "\(nodes[1].weftd?.log.suffix(2000) ?? "")")
        var code: Int32?
        #expect(
            waitUntil(timeout: 30) {
                code = nodes[2].weftd?.exitCode(); return code != nil
            } != nil)
        #expect(code.map { $0 != 0 } == true, "exit code \(code.map(String.init) ?? "none")")
        let log = nodes[2].weftd?.log ?? ""
        #expect(log.contains("no link's IPv4 address or name matches") && log.contains("data0 (10.88.0.13)"), "\(log.suffix(2000))")
        #expect(Self.annotation(cluster, "n3", "public-ip") == nil)
    }
}
