import Testing
import WeftIdentity

/// Every encoding of an attachment's identity, at the limits validation allows: container IDs and
/// network names of 1 to 253 bytes of `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, interface names of up to 15 bytes.
@Suite struct AttachmentIDTests {
    static let allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
    static func name(_ length: Int, seed: Int = 0) -> String {
        let characters = Array(allowed)
        return "a" + String((1..<max(length, 1)).map { characters[($0 * 7 + seed) % characters.count] })
    }

    static let lengths = [1, 63, 64, 65, 200, 253]

    @Test(arguments: lengths)
    func everyEncodingFitsItsLimit(length: Int) {
        for network in [Self.name(length), "cbr0"] {
            let id = AttachmentID(network: network, containerID: Self.name(length, seed: 3), ifname: "eth0123456789ab")
            #expect(id.recordName.utf8.count <= 255, "NAME_MAX")
            #expect(id.recordName.utf8.count <= 80)
            #expect(id.hostVethName.utf8.count <= 15, "IFNAMSIZ - 1")
            #expect(id.elementTag.utf8.count <= 150, "within the 200 bytes kept of an nft comment")
            let alias = id.alias(addresses: ["255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
            #expect(alias.utf8.count <= 255, "IFALIASZ - 1")
        }
    }

    @Test(arguments: [1, 64])
    func shortNamesStayReadable(length: Int) {
        let id = AttachmentID(network: "cbr0", containerID: Self.name(length), ifname: "eth0")
        #expect(id.containerKey == id.containerID)
        #expect(id.recordName == "\(id.containerID):eth0")
        #expect(id.elementTag == "weft/cbr0/\(id.containerID)/eth0")
    }

    @Test(arguments: [65, 253])
    func longNamesAreShortenedStablyAndDistinctly(length: Int) {
        let a = AttachmentID(network: "n", containerID: Self.name(length), ifname: "eth0")
        let b = AttachmentID(network: "n", containerID: Self.name(length) + "x", ifname: "eth0")
        #expect(a.containerKey.utf8.count == 64)
        #expect(a.containerKey.contains("~"), "never equal to a readable name")
        #expect(a.containerKey.hasPrefix(String(a.containerID.prefix(47))))
        #expect(a.containerKey != b.containerKey)
        #expect(a.containerKey == AttachmentID(network: "other", containerID: Self.name(length), ifname: "eth1").containerKey)
    }

    @Test func recordNamesParseBack() throws {
        for length in Self.lengths {
            let id = AttachmentID(network: "n", containerID: Self.name(length), ifname: "net1")
            let parsed = try #require(AttachmentID.parseRecordName(id.recordName))
            #expect(parsed.containerKey == id.containerKey)
            #expect(parsed.ifname == "net1")
        }
        #expect(AttachmentID.parseRecordName(".tmp-abc") == nil)
    }

    @Test func aliasesParseBackForTheirNetworkOnly() throws {
        for length in Self.lengths {
            let id = AttachmentID(network: Self.name(length, seed: 5), containerID: Self.name(length), ifname: "eth0")
            let alias = id.alias(addresses: ["10.244.1.2", "fd00::2"])
            let (parsed, addresses) = try #require(AttachmentID.parseAlias(alias, network: id.network))
            #expect(parsed.recordName == id.recordName)
            #expect(addresses == ["10.244.1.2", "fd00::2"])
            #expect(AttachmentID.parseAlias(alias, network: "other") == nil)
        }
    }

    @Test func vethNamesDependOnTheWholeIdentity() {
        let base = AttachmentID(network: "cbr0", containerID: "abc", ifname: "eth0")
        let names = [
            base,
            AttachmentID(network: "cbr1", containerID: "abc", ifname: "eth0"),
            AttachmentID(network: "cbr0", containerID: "abd", ifname: "eth0"),
            AttachmentID(network: "cbr0", containerID: "abc", ifname: "eth1"),
        ].map(\.hostVethName)
        #expect(Set(names).count == 4)
        #expect(names.allSatisfy { $0.hasPrefix("veth") && $0.utf8.count == 12 })
    }

    /// Golden values: an upgraded plugin must find the veths, IFBs, store records and nft elements an
    /// older one made, so a change to the hash or to any format fails here. Computed independently
    /// (FNV-1a 64 in a few lines of Python), not by the code under test.
    @Test func derivedNamesAreStableAcrossVersions() {
        let hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        let long = hex64 + "0123456789abcdef"
        let shortened = "0123456789abcdef0123456789abcdef0123456789abcde~04972276127af39d"
        let cases: [(AttachmentID, veth: String, ifb: String, record: String, tag: String)] = [
            (
                AttachmentID(network: "cbr0", containerID: "abc", ifname: "eth0"),
                "vethb94b37b3", "ifbb94b37b3", "abc:eth0", "weft/cbr0/abc/eth0"
            ),
            (
                AttachmentID(network: "cbr0", containerID: hex64, ifname: "eth0"),
                "veth51f4d93d", "ifb51f4d93d", "\(hex64):eth0", "weft/cbr0/\(hex64)/eth0"
            ),
            (
                AttachmentID(network: "cbr0", containerID: long, ifname: "eth0"),
                "veth5680988b", "ifb5680988b", "\(shortened):eth0", "weft/cbr0/\(shortened)/eth0"
            ),
            (
                AttachmentID(network: "k8s-pod-network", containerID: long, ifname: "net1"),
                "vethbecc09d4", "ifbbecc09d4", "\(shortened):net1", "weft/k8s-pod-network/\(shortened)/net1"
            ),
        ]
        for (id, veth, ifb, record, tag) in cases {
            #expect(id.hostVethName == veth)
            #expect(id.ifbName == ifb)
            #expect(id.recordName == record)
            #expect(id.elementTag == tag)
        }
        #expect(
            AttachmentID(network: String(repeating: "n", count: 100), containerID: "a", ifname: "eth0").networkKey
                == String(repeating: "n", count: 47) + "~798e0af16b2cf3f5")
        #expect(
            AttachmentID(network: "cbr0", containerID: long, ifname: "eth0").alias(addresses: ["10.244.1.2", "fd00::2"])
                == "weft cbr0 \(shortened) eth0 10.244.1.2,fd00::2")
    }

    @Test func elementTagsAreDescribedForMessages() {
        let id = AttachmentID(network: "cbr0", containerID: "abc", ifname: "eth0")
        #expect(AttachmentID.describeElementTag(id.elementTag) == "container abc interface eth0 (network cbr0)")
        #expect(id.elementTag.hasPrefix(AttachmentID.elementTagPrefix(network: "cbr0")))
    }

    @Test func fnv1aMatchesTheReferenceVectors() {
        #expect(FNV1a.hash([]) == 0xcbf29ce484222325)
        #expect(FNV1a.hash(Array("a".utf8)) == 0xaf63dc4c8601ec8c)
        #expect(FNV1a.hash(Array("foobar".utf8)) == 0x85944171f73967e8)
        #expect(FNV1a.hex64(Array("a".utf8)) == "af63dc4c8601ec8c")
    }
}
