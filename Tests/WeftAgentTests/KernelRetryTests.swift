import Foundation
import Testing
import WeftTestSupport

/// A kernel change refused once is made again by weftd's retry timer (RetryTimer), with no new lease
/// event to prompt it.
@Suite(.serialized, .privileged)
struct KernelRetryTests {
    /// Node 1's vxlan device is down when node 2's lease arrives: the kernel refuses the onlink route
    /// through it (ENETDOWN, "Nexthop device is not up"). Once the device is up again, with nothing
    /// changed in etcd, the route appears: the timer, not an event, retried it. The route's absence
    /// while the device is down, and its presence after, are read the same way.
    @Test func aRefusedRouteIsRetriedWithoutANewLeaseEvent() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
        defer { cluster.cleanup() }
        let nodes = try (1...2).map { try TestNodeAgent(cluster, number: $0) }
        try nodes[0].start(ttl: "60s")
        _ = try nodes[0].leasedSubnet()
        #expect(waitUntil(timeout: 10) { nodes[0].healthy() } != nil)
        #expect(try nodes[0].exec("ip", "link", "set", "weft.1", "down").status == 0)

        try nodes[1].start(ttl: "60s")
        let subnet2 = try nodes[1].leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/")
        let refused = waitUntil(timeout: 20) { ((try? nodes[0].metric("weftd_reconcile_errors_total")) ?? 0) > 0 }
        #expect(refused != nil, "the kernel refused nothing:\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(try nodes[0].exec("ip", "route", "show", subnet2).stdout.isEmpty, "a route through a down device")
        let records = try cluster.leaseRecords()

        #expect(try nodes[0].exec("ip", "link", "set", "weft.1", "up").status == 0)
        let routed = waitUntil(timeout: 40) { (try? nodes[0].exec("ip", "route", "show", subnet2).stdout.contains("weft.1")) == true }
        #expect(routed != nil, "not retried:\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(try nodes[0].metric("weftd_reconcile_retries_total") > 0)
        #expect(try cluster.leaseRecords() == records, "etcd changed: an event, not the timer, may have caused the reconcile")
        #expect(try nodes[0].metric("weftd_watch_restarts_total") == 0, "the watch restarted: its list, not the timer, may have reconciled")
    }
}
