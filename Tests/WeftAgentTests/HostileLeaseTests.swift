import Foundation
import Testing
import WeftTestSupport

@Suite(.serialized, .privileged)
struct HostileLeaseTests {
    /// Records anyone with write access to etcd can make: a subnet outside Network, one of another
    /// SubnetLen (a /16 over the whole cluster), and a well-formed lease whose route an operator
    /// already set. None becomes a route, the operator's route is left as it was; a well-formed lease
    /// written with them is connected (the positive control).
    @Test func onlyWellFormedLeasesBecomeRoutesAndForeignRoutesStay() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let node = try TestNodeAgent(cluster, number: 1)
        let static7 = try node.exec("ip", "route", "add", "10.244.250.0/24", "via", "10.77.0.99", "dev", "eth0", "proto", "static")
        #expect(static7.status == 0, "\(static7.stderr)")
        try node.start(ttl: "10s")
        _ = try node.leasedSubnet()
        func lease(_ ip: String) -> String { #"{"PublicIP":"\#(ip)","PublicIPv6":null,"BackendType":"host-gw"}"# }
        let prefix = "\(TestCluster.prefix)/subnets/"
        for (key, ip) in [
            ("192.168.5.0-24", "10.77.0.50"), ("10.244.0.0-16", "10.77.0.51"), ("10.244.250.0-24", "10.77.0.52"),
            ("10.244.251.0-24", "10.77.0.53"),
        ] {
            let put = try cluster.etcdctl("put", prefix + key, lease(ip))
            #expect(put.status == 0, "\(put.stderr)")
        }
        let control = waitUntil(timeout: 20) { (try? node.exec("ip", "route", "show", "10.244.251.0/24").stdout.contains("10.77.0.53")) == true }
        #expect(control != nil, "the well-formed lease got no route:\n\(node.weftd?.log.suffix(2000) ?? "")")
        #expect(try node.exec("ip", "route", "show", "192.168.5.0/24").stdout.isEmpty, "a lease outside Network became a route")
        #expect(try node.exec("ip", "route", "show", "10.244.0.0/16").stdout.isEmpty, "a /16 lease became a route")
        let operators = try node.exec("ip", "route", "show", "10.244.250.0/24").stdout
        #expect(operators.contains("via 10.77.0.99") && operators.contains("proto static"), "the operator's route was replaced: \(operators)")
    }
}
