import Testing
import WeftAddress

/// A network cut into subnets of a longer prefix, numbered from its network address, in both families.
@Suite struct SubnetNumberingTests {
    @Test func ipv4SubnetsAreNumberedFromTheNetworkAddress() throws {
        let network = try #require(IPNetwork("10.244.0.0/16"))
        #expect(network.subnetCount(length: 24) == 256)
        #expect(network.subnet(at: 0, length: 24) == IPNetwork("10.244.0.0/24"))
        #expect(network.subnet(at: 1, length: 24) == IPNetwork("10.244.1.0/24"))
        #expect(network.subnet(at: 255, length: 24) == IPNetwork("10.244.255.0/24"))
        #expect(network.subnet(at: 256, length: 24) == nil, "past the last subnet")
        #expect(network.subnetNumber(of: try #require(IPAddress("10.244.7.9")), length: 24) == 7)
        #expect(network.subnetNumber(of: try #require(IPAddress("10.245.0.0")), length: 24) == nil, "outside the network")
        // Subnets that do not fall on a byte boundary.
        #expect(network.subnet(at: 3, length: 18) == IPNetwork("10.244.192.0/18"))
        #expect(network.subnetNumber(of: try #require(IPAddress("10.244.200.1")), length: 18) == 3)
    }

    @Test func ipv6SubnetsAreNumberedTheSameWay() throws {
        let network = try #require(IPNetwork("fd00:244::/56"))
        #expect(network.subnetCount(length: 64) == 256)
        #expect(network.subnet(at: 9, length: 64) == IPNetwork("fd00:244:0:9::/64"))
        #expect(network.subnetNumber(of: try #require(IPAddress("fd00:244:0:9::1")), length: 64) == 9)
        let wide = try #require(IPNetwork("fd00::/8"))
        #expect(wide.subnetCount(length: 71) == UInt64(1) << 63)
        #expect(wide.subnetCount(length: 72) == nil, "2^64 subnets do not fit a UInt64")
    }

    @Test func lengthsOutsideThePrefixAndTheAddressAreRefused() throws {
        let network = try #require(IPNetwork("10.244.0.0/16"))
        #expect(network.subnetCount(length: 15) == nil)
        #expect(network.subnetCount(length: 33) == nil)
        #expect(network.subnetCount(length: 16) == 1, "the network itself is its only subnet")
        #expect(network.subnet(at: 0, length: 16) == network)
        #expect(network.subnet(at: 1, length: 16) == nil)
    }
}

@Suite struct AddressFamilyTests {
    @Test func eachFamilyKnowsItsLengthAndItsSocketFamily() throws {
        #expect(IPAddress.Family.v4.addressLength == 4 && IPAddress.Family.v6.addressLength == 16)
        #expect(IPAddress.Family.v4.socketFamily == 2 && IPAddress.Family.v6.socketFamily == 10, "AF_INET, AF_INET6 on Linux")
        #expect(IPAddress.unspecified(.v6).bytes.count == 16)
    }
}
