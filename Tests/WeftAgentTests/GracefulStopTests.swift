import Foundation
import Testing
import WeftTestSupport

/// weftd stopped by SIGTERM (a DaemonSet rollout) or SIGINT leaves the node's network as it was:
/// its parts stop in reverse order (WeftdServiceGroup), none of them undoes kernel state.
@Suite(.serialized, .privileged)
struct GracefulStopTests {
    /// What a stop must leave: the vxlan device, routes, neighbours and FDB entries to the other
    /// node, subnet.env, the state file, and the node's lease record in etcd.
    static func snapshot(_ node: TestNodeAgent, _ cluster: TestCluster) throws -> [String] {
        [
            try node.exec("ip", "-d", "link", "show", "weft.1").stdout.replacingOccurrences(of: #"state \w+"#, with: "", options: .regularExpression),
            try node.exec("ip", "route", "show", "dev", "weft.1").stdout,
            try node.exec("ip", "neigh", "show", "dev", "weft.1").stdout,
            try node.exec("bridge", "fdb", "show", "dev", "weft.1").stdout,
            try String(contentsOfFile: node.subnetFile, encoding: .utf8),
            "\(FileManager.default.fileExists(atPath: node.stateFile))",
            try cluster.leaseRecords().sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "\n"),
        ]
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsWeftdWithExitZeroAndLeavesTheNetworkInPlace(signal: Int32) throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
        defer { cluster.cleanup() }
        let nodes = try (1...2).map { try TestNodeAgent(cluster, number: $0) }
        for node in nodes { try node.start(ttl: "30s") }
        let subnets = try nodes.map { try $0.leasedSubnet().replacingOccurrences(of: ".1/", with: ".0/") }
        let routed = waitUntil(timeout: 20) { (try? nodes[0].exec("ip", "route", "show", subnets[1]).stdout.contains("weft.1")) == true }
        #expect(routed != nil, "no route to node 2:\n\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(waitUntil(timeout: 10) { nodes[0].healthy() } != nil)
        let before = try Self.snapshot(nodes[0], cluster)
        // The positive control: there is state to lose.
        #expect(before[1].contains(subnets[1]) && before[3].contains("dst \(nodes[1].publicIP)"), "\(before)")

        let status = nodes[0].weftd?.stop(signal) ?? -1
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "weftd exited with wait status \(status)")
        let log = nodes[0].weftd?.log ?? ""
        #expect(log.contains("stopping: routes, neighbours and the lease stay in place"), "\(log.suffix(2000))")
        #expect(log.contains("stopping on \(signal == SIGTERM ? "SIGTERM" : "SIGINT")"), "the notice names the signal: \(log.suffix(2000))")
        #expect(try Self.snapshot(nodes[0], cluster) == before)
        // /healthz and /metrics are closed: nothing answers on the port any more.
        #expect(try nodes[0].exec("curl", "-s", "-m", "2", "http://127.0.0.1:9410/livez").status != 0)
    }
}
