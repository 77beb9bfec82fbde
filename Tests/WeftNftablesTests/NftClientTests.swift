import Foundation
import Testing
import WeftNetlink
import WeftNftables
import WeftTestSupport
import WeftSystem

/// libnftnl against the kernel, in a throwaway namespace (the tests are NftLargeTableTests').
@Suite(.privileged)
struct NftClientTests {
    func withNamespace(_ body: (String, NftClient) throws -> Void) throws {
        let name = "wt-\(UUID().uuidString.prefix(8).lowercased())-nft"
        try ip("netns", "add", name)
        defer { _ = try? ip("netns", "delete", name) }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(name)")
        let client = NftClient(handle: NetlinkHandle(in: namespace))
        try body(name, client)
    }

    func nft(_ namespace: String, _ arguments: String...) throws -> String {
        let result = try runProgram("/usr/sbin/ip", ["netns", "exec", namespace, "nft"] + arguments)
        return result.stdout + result.stderr
    }
}
