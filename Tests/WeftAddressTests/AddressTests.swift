import Testing
import WeftAddress

@Suite struct IPAddressTests {
    @Test(arguments: ["10.244.1.2", "0.0.0.0", "255.255.255.255", "fd00::1", "::", "2001:db8::ff00:42:8329"])
    func roundTrips(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == text)
    }

    @Test(arguments: ["", "10.244.1", "10.244.1.256", "1.2.3.4/24", "fe80::1%eth0", "abc", "::g"])
    func refusesNonAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func advancesWithCarry() throws {
        let address = try #require(IPAddress("10.0.0.255"))
        #expect(address.advanced(by: 1)?.description == "10.0.1.0")
        #expect(try #require(IPAddress("255.255.255.255")).advanced(by: 1) == nil)
        #expect(try #require(IPAddress("fd00::ffff")).advanced(by: 1)?.description == "fd00::1:0")
    }

    @Test func measuresDistance() throws {
        let base = try #require(IPAddress("10.0.0.0"))
        #expect(try #require(IPAddress("10.0.1.4")).distance(from: base) == 260)
        #expect(base.distance(from: try #require(IPAddress("10.0.0.1"))) == nil)
    }

    @Test func classifiesSpecialIPv6() throws {
        #expect(try #require(IPAddress("fe80::1")).isIPv6LinkLocal)
        #expect(try #require(IPAddress("::ffff:10.0.0.1")).isIPv4Mapped)
        #expect(!(try #require(IPAddress("fd00::1")).isIPv4Mapped))
    }
}

@Suite struct IPNetworkTests {
    @Test func keepsHostBitsAndDerivesBounds() throws {
        let network = try #require(IPNetwork("10.244.1.1/24"))
        #expect(network.address.description == "10.244.1.1")
        #expect(network.hasHostBitsSet)
        #expect(network.networkAddress.description == "10.244.1.0")
        #expect(network.lastAddress.description == "10.244.1.255")
        #expect(network.canonical.description == "10.244.1.0/24")
        #expect(network.size == 256)
    }

    @Test func containsOnlyItsFamilyAndRange() throws {
        let network = try #require(IPNetwork("10.244.0.0/16"))
        #expect(network.contains(try #require(IPAddress("10.244.200.1"))))
        #expect(!network.contains(try #require(IPAddress("10.245.0.1"))))
        #expect(!network.contains(try #require(IPAddress("fd00::1"))))
        #expect(network.overlaps(try #require(IPNetwork("10.244.3.0/24"))))
    }

    @Test(arguments: ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "fd00::/129", "10.0.0.0/24/1", "10.0.0.0/ 8"])
    func refusesMalformedCIDR(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func ipv6Bounds() throws {
        let network = try #require(IPNetwork("fd00:10:244:1::/64"))
        #expect(network.size == UInt64.max)
        #expect(network.lastAddress.description == "fd00:10:244:1:ffff:ffff:ffff:ffff")
        #expect(IPNetwork.defaultRoute(.v6).description == "::/0")
    }
}

@Suite struct AddressRangeTests {
    @Test func defaultBoundsSkipNetworkAndBroadcast() throws {
        let network = try #require(IPNetwork("10.1.0.0/30"))
        let bounds = try #require(AddressRange.defaultBounds(of: network))
        #expect(bounds.first.description == "10.1.0.1")
        #expect(bounds.last.description == "10.1.0.2")
    }

    @Test func ipv6BoundsSkipSubnetRouterAndAllOnes() throws {
        let network = try #require(IPNetwork("fd00::/120"))
        let bounds = try #require(AddressRange.defaultBounds(of: network))
        #expect(bounds.first.description == "fd00::1")
        #expect(bounds.last.description == "fd00::fe")
    }
}
