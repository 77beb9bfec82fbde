import Foundation
import Testing
import WeftTestSupport

@Suite(.serialized, .privileged)
struct EngineOutageTests {
    /// etcd dies: the agents report it on /healthz and keep the routes; etcd comes back: they list and
    /// watch again, so a node that joins afterwards is connected.
    @Test func routesSurviveAnEtcdOutageAndTheWatchComesBack() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0) }
        for node in nodes.prefix(2) { try node.start(ttl: "10s") }
        let subnets = try nodes.prefix(2).map { try $0.leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/") }
        #expect(waitUntil(timeout: 10) { (try? nodes[0].exec("ip", "route", "show", subnets[1]).stdout.isEmpty) == false } != nil)

        cluster.killEtcd()
        let unhealthy = waitUntil(timeout: 15) { (try? nodes[0].healthz())?.hasSuffix(" 503") == true }
        #expect(unhealthy != nil, "healthz stayed ok without etcd")
        #expect(try !nodes[0].exec("ip", "route", "show", subnets[1]).stdout.isEmpty, "route dropped during the outage")

        let restart = Date()
        try cluster.startEtcd()
        let healthy = waitUntil(timeout: 20) { (try? nodes[0].healthz()) == "ok\n 200" }
        print(
            "[weftd etcd outage] /healthz 503 after etcd died: \(unhealthy.map { String(format: "%.2f", $0) } ?? "never") s; "
                + "etcd restarted → healthy again: \(healthy.map { _ in String(format: "%.2f", Date().timeIntervalSince(restart)) } ?? "never") s")
        #expect(healthy != nil, "\(nodes[0].weftd?.log.suffix(2000) ?? "")")
        try nodes[2].start(ttl: "10s")
        let third = try nodes[2].leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/")
        #expect(
            waitUntil(timeout: 10) { (try? nodes[0].exec("ip", "route", "show", third).stdout.isEmpty) == false } != nil,
            "node 1 did not see node 3 after the outage:\n\(nodes[0].weftd?.log.suffix(2000) ?? "")")
    }
}
