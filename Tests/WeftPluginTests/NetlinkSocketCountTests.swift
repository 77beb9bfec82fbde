import Foundation
import Testing
import WeftTestSupport

/// One ADD of a pod with hostPorts (tcp and udp) and bandwidth limits opens one netlink socket per
/// namespace and family: scripts/count-netlink-sockets.sh traces it with strace in its own throwaway
/// namespaces (named with this test's wt-<8 hex> prefix, removed by the script's exit trap) and exits 1
/// when any count passes 1. It takes well under a second.
@Suite(.privileged)
struct NetlinkSocketCountTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/count-netlink-sockets.sh").path

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "needs strace"))
    func oneAddOpensOneNetlinkSocketPerNamespaceAndFamily() throws {
        let prefix = "wt-\(String(UUID().uuidString.prefix(8)).lowercased())"
        let result = try runProgram(
            "/bin/bash", [Self.script, TestNode.weftBinary],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETNS_PREFIX": prefix])
        let counts = Dictionary(
            uniqueKeysWithValues: result.stdout.split(separator: "\n").compactMap { line -> (String, Int)? in
                let fields = line.split(separator: " ")
                guard fields.count == 3, let count = Int(fields[2]) else { return nil }
                return ("\(fields[0]) \(fields[1])", count)
            })
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The control: the ADD ran and its sockets were seen, in both namespaces.
        #expect(counts["node NETLINK_ROUTE"] == 1 && counts["pod NETLINK_ROUTE"] == 1, "\(result.stdout)\(result.stderr)")
        #expect(counts["node NETLINK_NETFILTER"] == 1, "the hostPort and masquerade rules: \(result.stdout)")
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(result.stdout)")
        let leftover = try ip("netns", "list").stdout
        #expect(!leftover.contains(prefix), "the script removed its namespaces")
    }
}
