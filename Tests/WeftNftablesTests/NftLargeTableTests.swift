import Foundation
import Testing
import WeftAddress
import WeftNetlink
@testable import WeftNftables

/// Tables past the kernel's u16 attribute length and the socket's default send buffer, written, diffed and
/// read back in a throwaway namespace (NftClientTests.withNamespace). Sizes and times are printed, not asserted.
extension NftClientTests {
    static func ipv4(_ n: Int) -> [UInt8] { [10, UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] }
    static func ipv6(_ n: Int) -> [UInt8] { [0xfd, 0] + [UInt8](repeating: 0, count: 10) + (0..<4).map { UInt8(truncatingIfNeeded: n >> (8 * (3 - $0))) } }

    /// `count` intervals of 16 addresses with gaps between them, as start and end elements.
    static func intervals(_ count: Int, from first: Int = 0) -> [NftSetElement] {
        (first..<(first + count)).flatMap { i in
            [NftSetElement(key: ipv4(i * 32)), NftSetElement(key: ipv4(i * 32 + 16), intervalEnd: true)]
        }
    }

    /// Elements of a set as `nft -j` lists them: a second reader besides our own.
    func nftElementCount(_ namespace: String, table: String, set: String, map: Bool = false) throws -> Int {
        let output = try nft(namespace, "-j", "list", map ? "map" : "set", "inet", table, set)
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let items = json?["nftables"] as? [[String: Any]] ?? []
        let found = items.compactMap { $0["set"] as? [String: Any] ?? $0["map"] as? [String: Any] }.first
        return (found?["elem"] as? [Any])?.count ?? 0
    }

    func report(_ label: String, _ client: NftClient, _ elapsed: Duration) {
        let sent = client.lastCommit.map { "\($0.bytes) bytes, \($0.messages) messages, 1 datagram" } ?? "nothing sent"
        print("nft-batch \(label): \(sent), \(elapsed)")
    }

    @Test func tenThousandElementsInAPlainAndAnIntervalSet() throws {
        try withNamespace { namespace, client in
            var image = NftTableImage(name: "large")
            image.sets = [NftSet(name: "peers", keyLength: 4, keyType: 7), NftSet(name: "excepts", keyLength: 4, keyType: 7, interval: true)]
            image.elements["peers"] = (0..<10_000).map { NftSetElement(key: Self.ipv4($0 * 3)) }
            image.elements["excepts"] = Self.intervals(10_000)
            let start = ContinuousClock.now
            try client.replace(image)
            report("10^4 plain + 10^4 intervals", client, ContinuousClock.now - start)
            #expect(Set(try client.keys(table: "large", set: "peers")) == Set(image.elements["peers", default: []].map(\.key)))
            #expect(
                try client.keys(table: "large", set: "excepts").sorted { $0.lexicographicallyPrecedes($1) }
                    == image.elements["excepts", default: []].map(\.key).sorted { $0.lexicographicallyPrecedes($1) })
            #expect(try nftElementCount(namespace, table: "large", set: "peers") == 10_000)
            #expect(try nftElementCount(namespace, table: "large", set: "excepts") == 10_000, "nft shows each interval once")
        }
    }

    /// A policy-shaped table ("policy" is a keyword of nft, which reads it back): a verdict map of pods to 300 chains of 10 rules each, an IPv6 peer set and
    /// an interval set, over 1 MB in one transaction, then changed by a diff of thousands of elements.
    static func bigImage(shift: Int) -> NftTableImage {
        var image = NftTableImage(name: "weftpolicy")
        let chains = (0..<300).map { "pol-\($0)" }
        image.sets = [
            NftSet(name: "pods", keyLength: 4, keyType: 7, verdictMap: true),
            NftSet(name: "peers6", keyLength: 16, keyType: 8),
            NftSet(name: "excepts", keyLength: 4, keyType: 7, interval: true),
        ]
        image.regularChains = chains
        image.baseChains = [NftChain(name: "forward", hook: .forward, priority: 0, type: "filter")]
        image.rules = [NftRule(chain: "forward", expressions: [.payload(.network, offset: 16, length: 4, into: .r(1)), .verdictMap(set: "pods", key: .r(1))])]
        image.rules += chains.flatMap { chain in
            (0..<10).map { port in
                NftRule(
                    chain: chain,
                    expressions: [
                        .payload(.transport, offset: 2, length: 2, into: .r(1)),
                        .cmp(.eq, .r(1), [0x1f, UInt8(port)]), .counter, .verdict(.accept),
                    ],
                    comment: "\(chain) port \(port)")
            }
        }
        image.elements["pods"] = (shift..<(shift + 20_000)).map { NftSetElement(key: ipv4($0), verdict: .jump(chains[$0 % chains.count])) }
        image.elements["peers6"] = (shift..<(shift + 20_000)).map { NftSetElement(key: ipv6($0)) }
        image.elements["excepts"] = intervals(5_000, from: shift)
        return image
    }

    @Test func aTableOverOneMegabyteIsWrittenThenDiffedByThousandsOfElements() throws {
        try withNamespace { namespace, client in
            let old = Self.bigImage(shift: 0), new = Self.bigImage(shift: 3_000)
            var start = ContinuousClock.now
            try client.replace(old)
            report("policy image", client, ContinuousClock.now - start)
            #expect((client.lastCommit?.bytes ?? 0) > 1_000_000)
            #expect((client.lastCommit?.messages ?? 0) > 3_000, "more messages than the default receive buffer has room for acks")
            for set in old.sets { #expect(Set(try client.keys(table: "weftpolicy", set: set.name)) == Set(old.elements[set.name, default: []].map(\.key))) }

            start = ContinuousClock.now
            #expect(try client.update(from: old, to: new) == false, "a diff, not a replacement")
            report("diff adding and deleting 3,000 elements per set", client, ContinuousClock.now - start)
            for set in new.sets {
                let keys = try client.keys(table: "weftpolicy", set: set.name)
                #expect(keys.count == new.elements[set.name, default: []].count, "\(set.name)")
                #expect(Set(keys) == Set(new.elements[set.name, default: []].map(\.key)), "\(set.name)")
            }
            #expect(try nftElementCount(namespace, table: "weftpolicy", set: "pods", map: true) == 20_000)
            #expect(try nftElementCount(namespace, table: "weftpolicy", set: "excepts") == 5_000)
        }
    }

    /// One bad element among 10^4, in the fourth of its messages: the kernel's error names it, and nothing
    /// of the transaction lands.
    @Test func anErrorDeepInALargeTransactionFailsAllOfIt() throws {
        try withNamespace { _, client in
            var image = NftTableImage(name: "broken")
            image.sets = [NftSet(name: "pods", keyLength: 4, keyType: 7, verdictMap: true)]
            image.regularChains = ["allow"]
            var elements = (0..<10_000).map { NftSetElement(key: Self.ipv4($0), verdict: .jump("allow")) }
            elements[8_000] = NftSetElement(key: Self.ipv4(8_000), verdict: .jump("missing"))
            image.elements["pods"] = elements
            do {
                try client.replace(image)
                Issue.record("a jump to a missing chain must fail")
            } catch let error as NetlinkError {
                #expect(error.errno == ENOENT, "\(error)")
                #expect(error.operation.contains("elements to pods"), "\(error)")
            }
            #expect(try client.keys(table: "broken", set: "pods").isEmpty, "nothing of the transaction landed")
        }
    }
}
