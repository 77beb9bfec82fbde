import Foundation
import Testing
import WeftTestSupport

/// Three dual-stack nodes (EnableIPv6) on one etcd: IPv4 and IPv6 subnets leased together under
/// flannel's dual-stack keys, pods reaching each other over both families, a dead node's IPv6
/// routes gone with its IPv4 ones.
@Suite(.serialized, .privileged)
struct DualStackFabricTests {
    static func netConf(_ backend: String) -> String {
        #"{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:244::/56","Backend":{"Type":"\#(backend)"}}"#
    }

    @Test(arguments: ["vxlan", "host-gw"])
    func threeDualStackNodesConnectBothFamilies(backend: String) throws {
        let cluster = try TestCluster(netConf: Self.netConf(backend))
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0, ipv6: true) }
        // Node 3's vxlan devices without checksum offload (what `auto` does on a kernel before 5.7): its
        // pods still reach the others' and are reached, over both families.
        for node in nodes { try node.start(extra: node === nodes[2] ? ["--vxlan-tx-checksum-offload", "off"] : []) }
        _ = try nodes.map { try $0.leasedSubnet() }

        let records = try cluster.leaseRecords()
        #expect(records.count == 3, "\(records)")
        var ipv6Subnets: [String] = []
        for node in nodes {
            let env = try String(contentsOfFile: node.subnetFile, encoding: .utf8)
            let line = try #require(env.split(separator: "\n").first { $0.hasPrefix("FLANNEL_IPV6_SUBNET=") }, "\(env)")
            let subnet = String(line.dropFirst("FLANNEL_IPV6_SUBNET=".count)).replacingOccurrences(of: "::1/", with: "::/")
            ipv6Subnets.append(subnet)
            #expect(env.contains("FLANNEL_IPV6_NETWORK=fd00:244::/56"))
            #expect(env.contains(backend == "vxlan" ? "FLANNEL_MTU=1430" : "FLANNEL_MTU=1500"), "\(env)")
            let record = try #require(records.first { $0.key.hasSuffix("&" + subnet.replacingOccurrences(of: "/", with: "-")) }, "\(records)")
            #expect(record.value.contains(#""PublicIPv6":"\#(node.publicIPv6 ?? "")""#), "\(record.value)")
            if backend == "vxlan" { #expect(record.value.contains(#""BackendV6Data":{"VNI":1,"VtepMAC":"0e:36:"#)) }
        }
        #expect(Set(ipv6Subnets).count == 3, "\(ipv6Subnets)")

        let pods = try nodes.map { try $0.addDualStackPod() }
        #expect(pods.allSatisfy { $0.addresses.count == 2 }, "\(pods)")
        let reachable = waitUntil(timeout: 20) { (try? ping(from: pods[0].namespace, to: pods[1].addresses[1])) == true }
        #expect(reachable != nil, "IPv6: pod on n1 cannot reach pod on n2:\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(answersPing(from: pods[0].namespace, to: pods[2].addresses[1]))
        #expect(answersPing(from: pods[2].namespace, to: pods[1].addresses[1]))
        #expect(answersPing(from: pods[0].namespace, to: pods[1].addresses[0]), "IPv4 still")

        if backend == "vxlan" {
            let link = try nodes[0].exec("ip", "-d", "link", "show", "weft-v6.1").stdout
            #expect(link.contains("vxlan id 1") && link.contains("mtu 1430") && link.contains("local fd77::11"), "\(link)")
            let fdb = try nodes[0].exec("bridge", "fdb", "show", "dev", "weft-v6.1").stdout
            #expect(fdb.contains("dst fd77::12") && fdb.contains("dst fd77::13"), "\(fdb)")
            for (node, state) in [(nodes[0], "on"), (nodes[2], "off")] {
                for device in ["weft.1", "weft-v6.1"] {
                    let features = try node.exec("/usr/bin/python3", "-B", VxlanChecksumOffloadTests.observer, device, "tx-checksum-ip-generic").stdout
                    #expect(features == "tx-checksum-ip-generic: \(state)\n", "\(node.label) \(device): \(features)")
                }
            }
        }
        let status = try run([binary("weftd"), "status", "--state-file", nodes[0].stateFile]).stdout
        #expect(status.contains(ipv6Subnets[0]) && status.contains("fd77::11"), "\(status)")

        // kill -9 on node 3: after its TTL, node 1 has no route to either of its subnets.
        nodes[2].weftd?.stop(SIGKILL)
        let forgotten = waitUntil(timeout: 30) { (try? nodes[0].exec("ip", "-6", "route", "show", ipv6Subnets[2]).stdout.isEmpty) == true }
        print("[weftd \(backend) dual-stack] node 3 killed → its IPv6 route gone on node 1: \(forgotten.map { String(format: "%.2f", $0) } ?? "never") s")
        #expect(forgotten != nil)
        #expect(answersPing(from: pods[0].namespace, to: pods[1].addresses[1]))
    }
}
