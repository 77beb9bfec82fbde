import Testing
import WeftAddress
import WeftIPAM

func makeRange(_ subnet: String, gateway: String, first: String? = nil, last: String? = nil) throws -> AddressRange {
    let network = try #require(IPNetwork(subnet))
    let bounds = try #require(AddressRange.defaultBounds(of: network))
    return AddressRange(
        subnet: network, gateway: try #require(IPAddress(gateway)),
        first: try first.map { try #require(IPAddress($0)) } ?? bounds.first,
        last: try last.map { try #require(IPAddress($0)) } ?? bounds.last)
}

@Suite struct AllocatorTests {
    @Test func skipsGatewayAndStartsAtTheFirstAddress() throws {
        let range = try makeRange("10.244.1.0/24", gateway: "10.244.1.1")
        #expect(Allocator.next(in: range, after: nil, isTaken: { _ in false })?.description == "10.244.1.2")
    }

    @Test func resumesAfterTheLastAndWraps() throws {
        let range = try makeRange("10.244.1.0/24", gateway: "10.244.1.1")
        #expect(Allocator.next(in: range, after: IPAddress("10.244.1.7"), isTaken: { _ in false })?.description == "10.244.1.8")
        #expect(Allocator.next(in: range, after: IPAddress("10.244.1.254"), isTaken: { _ in false })?.description == "10.244.1.2")
    }

    @Test func skipsTakenAddresses() throws {
        let range = try makeRange("10.244.1.0/29", gateway: "10.244.1.1")
        let taken: Set<String> = ["10.244.1.2", "10.244.1.3"]
        #expect(Allocator.next(in: range, after: nil, isTaken: { taken.contains($0.description) })?.description == "10.244.1.4")
    }

    @Test func reportsExhaustion() throws {
        let range = try makeRange("10.244.1.0/30", gateway: "10.244.1.1")
        #expect(Allocator.next(in: range, after: nil, isTaken: { $0.description == "10.244.1.2" }) == nil)
    }

    @Test func honoursRangeBounds() throws {
        let range = try makeRange("10.0.0.0/16", gateway: "10.0.0.1", first: "10.0.5.10", last: "10.0.5.11")
        var seen: [String] = []
        var last: IPAddress?
        for _ in 0..<2 {
            let next = try #require(Allocator.next(in: range, after: last, isTaken: { seen.contains($0.description) }))
            seen.append(next.description)
            last = next
        }
        #expect(seen == ["10.0.5.10", "10.0.5.11"])
        #expect(Allocator.next(in: range, after: last, isTaken: { seen.contains($0.description) }) == nil)
    }

    @Test func allocatesIPv6() throws {
        let range = try makeRange("fd00:10:244:1::/64", gateway: "fd00:10:244:1::1")
        #expect(Allocator.next(in: range, after: nil, isTaken: { _ in false })?.description == "fd00:10:244:1::2")
    }
}
