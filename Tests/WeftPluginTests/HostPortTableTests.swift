import Foundation
import Testing
import WeftAddress
import WeftNetlink
import WeftSystem
import WeftNftables
@testable import WeftPlugin
import WeftTestSupport

/// The hostPort table through libnftnl against the kernel, in a node namespace of its own.
@Suite(.privileged)
struct HostPortTableTests {
    func table(_ node: TestNode) throws -> HostPortTable {
        try NetworkNamespace(path: "/var/run/netns/\(node.name)").run { try HostPortTable() }
    }

    func nft(_ node: TestNode, _ arguments: String...) throws -> String {
        let result = try runProgram("/usr/sbin/ip", ["netns", "exec", node.name, "nft"] + arguments)
        return result.stdout + result.stderr
    }

    let subnet = IPNetwork("10.244.1.0/24")!
    let cluster = IPNetwork("10.244.0.0/16")!

    func rules(masquerade: Bool = true) -> [NftRule] {
        WeftRuleset.networkRules(network: "cbr0", subnets: [subnet], clusterNetworks: [cluster], masquerade: masquerade)
    }

    @Test func installIsIdempotentAndReadable() throws {
        try withNode { node in
            let client = try table(node)
            try client.install(network: "cbr0", networkRules: rules(), elements: [])
            let first = try nft(node, "list", "table", "inet", "weft")
            try client.install(network: "cbr0", networkRules: rules(), elements: [])
            let second = try nft(node, "list", "table", "inet", "weft")
            #expect(first == second, "a second install changes nothing")
            #expect(first.contains("type nat hook prerouting priority dstnat + 10"), "\(first)")
            #expect(first.contains("fib daddr type local"), "\(first)")
            #expect(first.contains("ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 ip daddr != 224.0.0.0/4"), "\(first)")
            #expect(try client.ruleCount(chain: "net-cbr0") == 2)
            #expect(try client.ruleCount(chain: WeftRuleset.prerouting.name) == 4)
        }
    }

    @Test func elementsCarryTheirOwnerAndConflictsFailTheWholeTransaction() throws {
        try withNode { node in
            let client = try table(node)
            let mapping = PortMapping(proto: .tcp, hostPort: 8080, containerPort: 80, hostIP: nil)
            let podA = [IPAddress("10.244.1.2")!], podB = [IPAddress("10.244.1.3")!]
            let a = HostPortElements.elements(for: [mapping], podAddresses: podA, owner: "weft/cbr0/a/eth0")
            try client.install(network: "cbr0", networkRules: rules(), elements: a)
            #expect(try client.allElements() == a)
            let listing = try nft(node, "list", "map", "inet", "weft", "hostports4")
            #expect(listing.contains(#"tcp . 8080 comment "weft/cbr0/a/eth0" : 10.244.1.2 . 80"#), "\(listing)")

            let b = HostPortElements.elements(
                for: [mapping, PortMapping(proto: .udp, hostPort: 53, containerPort: 53, hostIP: nil)],
                podAddresses: podB, owner: "weft/cbr0/b/eth0")
            do {
                try client.install(network: "cbr0", networkRules: rules(), elements: b)
                Issue.record("a duplicate key must fail")
            } catch let error as NetlinkError {
                #expect(error.errno == EEXIST)
            }
            #expect(try client.allElements() == a, "nothing of the failed transaction landed")
            try client.remove(a)
            #expect(try client.allElements().isEmpty)
            try client.uninstall()
            #expect(try client.allElements().isEmpty)
            #expect(try client.ruleCount(chain: "net-cbr0") == 0)
            try client.uninstall()
        }
    }
}
