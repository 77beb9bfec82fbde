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
        let name = "wt-\(TestNamespace.uniqueID())-nft"
        try TestNamespace.add(name, loopbackUp: false)
        defer { TestNamespace.delete(name) }
        let namespace = try NetworkNamespace(path: TestNamespace.path(name))
        let client = NftClient(handle: NetlinkHandle(in: namespace))
        try body(name, client)
    }

    func nft(_ namespace: String, _ arguments: String...) throws -> String {
        let result = try runProgram("/usr/sbin/ip", ["netns", "exec", namespace, "nft"] + arguments)
        return result.stdout + result.stderr
    }
}
