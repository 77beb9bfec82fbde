import Foundation
import Testing
import WeftTestSupport

@Suite(.serialized, .privileged)
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

    /// Both nodes' weftd are stopped longer than their leases' TTL; meanwhile another node takes node 1's
    /// subnet, while node 2's stays free. On restart node 2 takes its subnet back (the positive control),
    /// and node 1 does not lease another subnet under its running pods: subnet.env goes aside, the
    /// plugin's ADD is refused, /healthz and `weftd status` say the lease is lost, the other node's
    /// record stays.
    @Test func aSubnetTakenWhileWeftdWasDownIsNotReplacedByAnother() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let nodes = try (1...2).map { try TestNodeAgent(cluster, number: $0) }
        for node in nodes { try node.start(ttl: "3s") }
        let subnets = try nodes.map { try $0.leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/") }
        let keys = subnets.map { "\(TestCluster.prefix)/subnets/\($0.replacingOccurrences(of: "/", with: "-"))" }
        for node in nodes { _ = try node.addPod() }

        // SIGTERM: weftd stops without touching anything (subnet.env, routes and the lease stay).
        for node in nodes { node.weftd?.stop(SIGTERM) }
        let expired = waitUntil(timeout: 60) { keys.allSatisfy { (try? cluster.etcdctl("get", $0).stdout.isEmpty) == true } }
        #expect(expired != nil, "the leases did not expire while weftd was down: \((try? cluster.leaseRecords()) ?? [:])")
        let thief = #"{"PublicIP":"10.77.0.99","PublicIPv6":null,"BackendType":"host-gw"}"#
        #expect(try cluster.etcdctl("put", keys[0], thief).status == 0)
        for node in nodes { try node.start(ttl: "3s") }

        // The control: a previous subnet nobody took is leased again by its node.
        let retaken = waitUntil(timeout: 60) { (try? cluster.etcdctl("get", keys[1], "--print-value-only").stdout.contains(nodes[1].publicIP)) == true }
        #expect(retaken != nil, "node 2 did not take its free subnet back: \(nodes[1].weftd?.log.suffix(2000) ?? "")")
        #expect(waitUntil(timeout: 60) { (try? nodes[1].healthz()) == "ok\n 200" } != nil, "\((try? nodes[1].healthz()) ?? "no answer")")
        #expect(try nodes[1].leasedSubnet() == subnets[1].replacingOccurrences(of: ".0/", with: ".1/"))
        _ = try nodes[1].addPod()

        let lost = waitUntil(timeout: 60) { (try? nodes[0].healthz())?.contains("lease lost") == true }
        #expect(lost != nil, "healthz: \((try? nodes[0].healthz()) ?? "no answer")\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(try nodes[0].healthz().hasSuffix(" 503"))
        #expect(!FileManager.default.fileExists(atPath: nodes[0].subnetFile), "subnet.env still offers a subnet")
        #expect(FileManager.default.fileExists(atPath: nodes[0].subnetFile + ".lost"))
        #expect(throws: TestFailure.self) { try nodes[0].addPod() }
        #expect(nodes[0].weftd?.exitCode() == nil, "weftd stays up to say why")
        let status = try run([binary("weftd"), "status", "--state-file", nodes[0].stateFile])
        #expect(
            status.status == 3 && status.stdout.contains("LEASE LOST") && status.stdout.contains("10.77.0.99"),
            "weftd status (\(status.status)): \(status.stdout) \(status.stderr)")
        #expect(try cluster.etcdctl("get", keys[0], "--print-value-only").stdout.contains("10.77.0.99"), "weftd overwrote the other node's lease")
        let records = try cluster.leaseRecords()
        #expect(records.count == 2, "node 1 leased another subnet: \(records)")
    }

    /// A quiet cluster (no lease changes, so no reconcile writes the state): each renewal is written, so
    /// /healthz judges the renewed expiry and stays ok over several TTLs (3 s, renewed every second).
    @Test func aRenewedLeaseStaysHealthyPastItsFirstExpiry() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let node = try TestNodeAgent(cluster, number: 1)
        try node.start(ttl: "3s")
        _ = try node.leasedSubnet()
        let renewed = waitUntil(timeout: 120) { ((try? node.metric("weftd_lease_renewals_total")) ?? 0) >= 6 }
        #expect(renewed != nil, "\(node.weftd?.log.suffix(2000) ?? "")")
        let health = try node.healthz()
        #expect(health == "ok\n 200", "\(health)")
    }
}
