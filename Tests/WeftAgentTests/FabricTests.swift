import Foundation
import Testing
import WeftTestSupport

/// Three nodes, each running weftd against one etcd, with pods attached by the weft plugin.
@Suite(.serialized, .privileged)
struct FabricTests {
    static func netConf(_ backend: String) -> String {
        #"{"Network":"10.244.0.0/16","Backend":{"Type":"\#(backend)"}}"#
    }

    @Test(arguments: ["vxlan", "host-gw"])
    func threeNodesLeaseConnectForgetTheDeadAndSurviveARestart(backend: String) throws {
        let cluster = try TestCluster(netConf: Self.netConf(backend))
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0) }
        // A route an earlier weftd left for a node that is gone: the first reconcile removes it.
        try nodes[0].exec("ip", "route", "add", "10.244.250.0/24", "via", "10.77.0.99", "dev", "eth0", "proto", "87")
        for node in nodes { try node.start() }

        // Three distinct subnets, recorded under <prefix>/subnets/ in flannel's format.
        let subnets = try nodes.map { try $0.leasedSubnet() }
        #expect(Set(subnets).count == 3, "\(subnets)")
        let records = try cluster.leaseRecords()
        #expect(records.count == 3, "\(records)")
        for (node, subnet) in zip(nodes, subnets) {
            let network = subnet.replacingOccurrences(of: ".1/", with: ".0-")
            let value = try #require(records["\(TestCluster.prefix)/subnets/\(network)"], "\(records)")
            let octets = node.publicIP.split(separator: ".").map { String(format: "%02x", Int($0) ?? 0) }.joined(separator: ":")
            let backendData = backend == "vxlan" ? #","BackendData":{"VNI":1,"VtepMAC":"0e:57:\#(octets)"}"# : ""
            #expect(value == #"{"PublicIP":"\#(node.publicIP)","PublicIPv6":null,"BackendType":"\#(backend)"\#(backendData)}"#)
        }

        let pods = try nodes.map { try $0.addPod() }
        let reachable = waitUntil(timeout: 20) { (try? ping(from: pods[0].namespace, to: pods[1].address)) == true }
        let sinceStart = Date().timeIntervalSince(nodes[0].startedAt)
        print("[weftd \(backend)] weftd start → pod on node 2 reachable from node 1: \(String(format: "%.2f", sinceStart)) s")
        #expect(reachable != nil, "pod on n1 cannot reach pod on n2:\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(answersPing(from: pods[0].namespace, to: pods[2].address))
        #expect(answersPing(from: pods[2].namespace, to: pods[1].address))
        // The far end sees the pod's own address: no masquerade inside the cluster network.
        #expect(try sourceSeen(from: pods[0].namespace, by: pods[1].namespace, at: pods[1].address) == pods[0].address)
        #expect(try nodes[0].exec("ip", "route", "show", "10.244.250.0/24").stdout.isEmpty, "leftover route kept")

        if backend == "vxlan" { try checkVxlanDevice(nodes[0], peers: Array(nodes[1...])) }
        try checkOperations(nodes[0])

        // Node 1's record deleted by hand: weftd writes it again, and the other nodes route to it again.
        let key1 = "\(TestCluster.prefix)/subnets/" + subnets[0].replacingOccurrences(of: ".1/", with: ".0-")
        try cluster.etcdctl("del", key1)
        #expect(waitUntil(timeout: 10) { (try? cluster.leaseRecords()[key1]) != nil } != nil, "record not written again")
        #expect(waitUntil(timeout: 10) { (try? ping(from: pods[1].namespace, to: pods[0].address)) == true } != nil)

        // kill -9 on node 3: once its lease expires, node 1 has no route to its subnet.
        let node3Subnet = subnets[2].replacingOccurrences(of: ".1/", with: ".0/")
        nodes[2].weftd?.stop(SIGKILL)
        let forgotten = waitUntil(timeout: 30) { (try? nodes[0].exec("ip", "route", "show", node3Subnet).stdout.isEmpty) == true }
        print("[weftd \(backend)] node 3 killed → its route gone on node 1: \(forgotten.map { String(format: "%.2f", $0) } ?? "never") s (TTL 5 s)")
        #expect(forgotten != nil)
        if backend == "vxlan" {
            #expect(try !nodes[0].exec("bridge", "fdb", "show", "dev", "weft.1").stdout.contains(nodes[2].publicIP))
            #expect(try !nodes[0].exec("ip", "neigh", "show", "dev", "weft.1").stdout.contains(node3Subnet.replacingOccurrences(of: "/24", with: "")))
        }

        // Restart weftd on node 2: SIGTERM leaves the routes, pods stay reachable, the subnet is kept.
        let oldPID = nodes[1].weftd?.pid
        let status = nodes[1].weftd?.stop(SIGTERM) ?? -1
        #expect((status >> 8) & 0xff == 0 && status & 0x7f == 0, "weftd exited with \(status)")
        #expect(answersPing(from: pods[0].namespace, to: pods[1].address), "unreachable while node 2's agent is down")
        try nodes[1].start()
        let restarted = waitUntil(timeout: 20) { nodes[1].agentPID() == nodes[1].weftd?.pid && nodes[1].agentPID() != oldPID }
        #expect(restarted != nil, "restarted weftd wrote no state:\n\(nodes[1].weftd?.log.suffix(2000) ?? "")")
        #expect(try nodes[1].leasedSubnet() == subnets[1])
        #expect(answersPing(from: pods[0].namespace, to: pods[1].address))
        #expect(answersPing(from: pods[1].namespace, to: pods[0].address))
        #expect(try cluster.leaseRecords().count == 2)
    }

    func checkVxlanDevice(_ node: TestNodeAgent, peers: [TestNodeAgent]) throws {
        let link = try node.exec("ip", "-d", "link", "show", "weft.1").stdout
        #expect(link.contains("vxlan id 1") && link.contains("dstport 8472") && link.contains("nolearning"), "\(link)")
        #expect(link.contains("mtu 1450"), "\(link)")
        // --vxlan-tx-checksum-offload auto on a kernel from 5.7 on (these machines'): the offload stays on.
        let features = try node.exec("/usr/bin/python3", "-B", VxlanChecksumOffloadTests.observer, "weft.1", "tx-checksum-ip-generic").stdout
        #expect(features == "tx-checksum-ip-generic: on\n", "\(features)")
        let fdb = try node.exec("bridge", "fdb", "show", "dev", "weft.1").stdout
        let neighbours = try node.exec("ip", "neigh", "show", "dev", "weft.1").stdout
        for peer in peers {
            #expect(fdb.contains("dst \(peer.publicIP)") && fdb.contains("permanent"), "\(fdb)")
        }
        #expect(neighbours.split(separator: "\n").filter { $0.contains("PERMANENT") }.count == peers.count, "\(neighbours)")
        let env = try String(contentsOfFile: node.subnetFile, encoding: .utf8)
        #expect(env.contains("FLANNEL_NETWORK=10.244.0.0/16") && env.contains("FLANNEL_MTU=1450") && env.contains("FLANNEL_IPMASQ=false"))
    }

    /// /healthz, /metrics and `weftd status` on a running node.
    func checkOperations(_ node: TestNodeAgent) throws {
        let health = try node.exec("curl", "-s", "-w", " %{http_code}", "http://127.0.0.1:9410/healthz").stdout
        #expect(health == "ok\n 200", "\(health)")
        let metrics = try node.exec("curl", "-s", "http://127.0.0.1:9410/metrics").stdout
        #expect(metrics.contains("weftd_lease_held 1") && metrics.contains("weftd_peers 2"), "\(metrics)")
        // The state file is a snapshot rewritten after each change: on a loaded machine it may show a
        // renewal in flight for a moment (a 5 s TTL renews every 1.7 s), so read it until it settles.
        var status = try run([binary("weftd"), "status", "--state-file", node.stateFile])
        for _ in 0..<20 where !(status.status == 0 && status.stdout.contains("peers:    2")) {
            usleep(250_000)
            status = try run([binary("weftd"), "status", "--state-file", node.stateFile])
        }
        #expect(status.status == 0 && status.stdout.contains("peers:    2"), "\(status.stdout) \(status.stderr)")
    }
}
