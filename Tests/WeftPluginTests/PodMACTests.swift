import Testing
import WeftAddress
@testable import WeftPlugin

/// Pod and bridge MACs: unique on a bridge, never the bridge's, locally administered unicast.
@Suite struct PodMACTests {
    func mac(_ addresses: String..., avoiding: [UInt8]? = nil) -> [UInt8]? {
        PodMAC.derived(from: addresses.compactMap(IPAddress.init), avoiding: avoiding)
    }

    @Test func ipv4KeepsFlannelsMAC() {
        #expect(mac("10.244.1.2") == [0x0a, 0x58, 10, 244, 1, 2])
        #expect(mac("fd00::2", "10.244.1.2") == [0x0a, 0x58, 10, 244, 1, 2], "the IPv4 address decides in dual stack")
    }

    /// The low 32 bits alone gave fd00:84::2 and fd00:84::1:0:0:2 one MAC, and fd00:84::5:0:0:1 the
    /// bridge's own (derived from the gateway fd00:84::1).
    @Test func ipv6OnlyPodsGetDistinctMACs() throws {
        let bridge = try #require(mac("fd00:84::1"))
        let pods = ["fd00:84::2", "fd00:84::1:0:0:2", "fd00:84::5:0:0:1", "fd00:84::3"].compactMap { mac($0, avoiding: bridge) }
        #expect(Set(pods).count == 4)
        #expect(!pods.contains(bridge))
        for address in pods + [bridge] {
            #expect(address.count == 6)
            #expect(address[0] & 0x02 != 0 && address[0] & 0x01 == 0, "locally administered unicast")
        }
    }

    /// Golden values: a pod whose address is handed out again after an upgrade keeps its MAC (and its
    /// neighbours' entries stay right); an uplink keeps its routing table. Computed independently.
    @Test func derivedValuesAreStableAcrossVersions() {
        #expect(mac("fd00::2") == [0x0e, 0x3e, 0x5d, 0xbf, 0xb8, 0x9e])
        #expect(RoutedAttachment.table(of: "eth1") == 0x5745_a5b7)
    }

    @Test func aMACEqualToTheBridgesIsMovedAway() throws {
        let pod = try #require(mac("fd00:84::2"))
        let moved = try #require(mac("fd00:84::2", avoiding: pod))
        #expect(moved != pod)
    }

    @Test func manyIPv6PodsNeverCollide() {
        var seen = Set<[UInt8]>()
        for high in 0..<16 {
            for low in 0..<256 {
                let text = "fd00:84::\(String(high, radix: 16)):0:0:\(String(low, radix: 16))"
                if let address = mac(text) { seen.insert(address) }
            }
        }
        #expect(seen.count == 16 * 256)
    }
}
