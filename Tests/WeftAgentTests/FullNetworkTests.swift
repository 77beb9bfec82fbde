import Foundation
import Testing
import WeftTestSupport

@Suite(.serialized, .privileged)
struct FullNetworkTests {
    /// Three nodes race for a network with room for two: two distinct leases, and the third weftd
    /// exits with a clear error and writes no subnet.env.
    @Test func racingNodesNeverShareASubnetAndTheOneLeftOverGetsAClearError() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","SubnetMin":"10.244.7.0","SubnetMax":"10.244.8.0","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0) }
        for node in nodes { try node.start() }
        var exited: [TestNodeAgent] = []
        _ = waitUntil(timeout: 30) {
            exited = nodes.filter { $0.weftd?.exitCode() != nil }
            let leased = nodes.filter { FileManager.default.fileExists(atPath: $0.subnetFile) }
            return exited.count + leased.count >= 3
        }
        #expect(exited.count == 1, "exited: \(exited.map(\.label))")
        let loser = try #require(exited.first)
        #expect(!FileManager.default.fileExists(atPath: loser.subnetFile))
        #expect(
            loser.weftd?.log.contains("network full: no free subnet: all 2 /24 subnets of 10.244.0.0/16") == true,
            "\(loser.weftd?.log ?? "")")
        let winners = nodes.filter { $0 !== loser }
        let subnets = try winners.map { try $0.leasedSubnet() }
        #expect(Set(subnets) == ["10.244.7.1/24", "10.244.8.1/24"])
        #expect(try cluster.leaseRecords().count == 2)
    }
}
