import Foundation
import Testing

@Suite(.serialized, .enabled(if: Privileged.available))
struct LostLeaseTests {
    /// The node cannot reach etcd until its lease expires, and another node takes its subnet meanwhile.
    /// When etcd is back, weftd does not move the node to another subnet: subnet.env goes aside (the
    /// plugin's ADD is refused), /healthz says the lease is lost, the other node's record stays. The
    /// ADD before the outage is the positive control.
    @Test func aSubnetTakenDuringAnOutageStopsAttachesInsteadOfMovingTheNode() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let node = try TestNodeAgent(cluster, number: 1)
        try node.start(ttl: "3s")
        let subnet = try node.leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/")
        _ = try node.addPod()
        let key = "\(TestCluster.prefix)/subnets/\(subnet.replacingOccurrences(of: "/", with: "-"))"

        // etcd out of reach from the node only: a blackhole route in the node's namespace.
        #expect(try node.exec("ip", "route", "add", "blackhole", "\(TestCluster.etcdAddress)/32").status == 0)
        let expired = waitUntil(timeout: 30) { (try? cluster.etcdctl("get", key).stdout.isEmpty) == true }
        #expect(expired != nil, "the lease did not expire while the node could not renew it")
        let thief = #"{"PublicIP":"10.77.0.99","PublicIPv6":null,"BackendType":"host-gw"}"#
        #expect(try cluster.etcdctl("put", key, thief).status == 0)
        #expect(try node.exec("ip", "route", "del", "blackhole", "\(TestCluster.etcdAddress)/32").status == 0)

        let lost = waitUntil(timeout: 30) { (try? node.healthz())?.contains("lease lost") == true }
        #expect(lost != nil, "healthz: \((try? node.healthz()) ?? "no answer")\n\(node.weftd?.log.suffix(3000) ?? "")")
        #expect(!FileManager.default.fileExists(atPath: node.subnetFile), "subnet.env still offers a subnet")
        #expect(FileManager.default.fileExists(atPath: node.subnetFile + ".lost"))
        #expect(throws: TestFailure.self) { try node.addPod() }
        #expect(try cluster.etcdctl("get", key, "--print-value-only").stdout.contains("10.77.0.99"), "weftd overwrote the other node's lease")
        let records = try cluster.leaseRecords()
        #expect(records.count == 1, "weftd leased another subnet: \(records)")
    }
}
