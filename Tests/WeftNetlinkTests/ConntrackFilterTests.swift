import CMnl
import Testing
import WeftAddress
import WeftNetlink
#if canImport(Glibc)
import Glibc
#endif

/// The conntrack dump filter's request, byte for byte (ctnetlink's CTA_FILTER).
@Suite struct ConntrackFilterTests {
    @Test func aFilteredDumpAsksForOneEndpointsUDPEntries() {
        let filter = ConntrackFilter(family: .v4, proto: 17, replySource: IPAddress("10.244.2.7")!)
        let nested: UInt16 = 0x8000  // NLA_F_NESTED
        let expected: [UInt8] =
            le32(72)  // nlmsg_len: header 16, nfgenmsg 4, attributes 52
            + le16(UInt16(NFNL_SUBSYS_CTNETLINK) << 8 | UInt16(IPCTNL_MSG_CT_GET.rawValue))
            + le16(UInt16(NLM_F_REQUEST | NLM_F_DUMP))
            + le32(0) + le32(0)  // sequence (set when sent), port id
            + [UInt8(AF_INET), UInt8(NFNETLINK_V0)] + le16(0)  // nfgenmsg: the family, version, res_id
            // CTA_TUPLE_ORIG { CTA_TUPLE_PROTO { CTA_PROTO_NUM 17 } }
            + le16(16) + le16(UInt16(CTA_TUPLE_ORIG.rawValue) | nested)
            + le16(12) + le16(UInt16(CTA_TUPLE_PROTO.rawValue) | nested) + le16(5) + le16(UInt16(CTA_PROTO_NUM.rawValue)) + [17, 0, 0, 0]
            // CTA_TUPLE_REPLY { CTA_TUPLE_IP { CTA_IP_V4_SRC 10.244.2.7 } }
            + le16(16) + le16(UInt16(CTA_TUPLE_REPLY.rawValue) | nested)
            + le16(12) + le16(UInt16(CTA_TUPLE_IP.rawValue) | nested) + le16(8) + le16(UInt16(CTA_IP_V4_SRC.rawValue)) + [10, 244, 2, 7]
            // CTA_FILTER { ORIG_FLAGS CTA_FILTER_F_CTA_PROTO_NUM, REPLY_FLAGS CTA_FILTER_F_CTA_IP_SRC }
            + le16(20) + le16(UInt16(CTA_FILTER.rawValue) | nested)
            + le16(8) + le16(UInt16(CTA_FILTER_ORIG_FLAGS.rawValue)) + le32(1 << 3)
            + le16(8) + le16(UInt16(CTA_FILTER_REPLY_FLAGS.rawValue)) + le32(1 << 0)
        #expect(filter.request.bytes == expected)
    }

    @Test func withoutAnEndpointOnlyTheFamilyAndProtocolCount() {
        let bytes = ConntrackFilter(family: .v6, proto: 17).request.bytes
        #expect(bytes[16] == UInt8(AF_INET6))
        let attributes = NetlinkAttribute.parse(bytes, from: 20)
        #expect(attributes.map(\.type) == [UInt16(CTA_TUPLE_ORIG.rawValue), UInt16(CTA_FILTER.rawValue)])
        let flags = attributes[1].nested
        #expect(flags.first(Int(CTA_FILTER_ORIG_FLAGS.rawValue))?.u32 == 1 << 3)
        #expect(flags.first(Int(CTA_FILTER_REPLY_FLAGS.rawValue)) == nil)
    }
}

/// What is deleted after an endpoint change never depends on the kernel having honoured the dump's
/// filter: a kernel before 5.9 ignores CTA_FILTER and sends every entry of the family.
@Suite struct ConntrackStaleUDPTests {
    static let frontend = IPAddress("10.96.0.10")!
    static let gone = IPAddress("10.244.2.7")!
    static let stays = IPAddress("10.244.3.9")!

    /// One entry as ctnetlink dumps it (IPCTNL_MSG_CT_NEW's payload: nfgenmsg, then the tuples).
    static func entry(proto: UInt8, client: IPAddress, to destination: IPAddress, port: UInt16, answeredBy endpoint: IPAddress) -> ConntrackEntry? {
        let request = NetlinkRequest(type: 0, flags: 0)
        let family = destination.family == .v4
        request.putStruct(UInt32(family ? AF_INET : AF_INET6))
        func tuple(_ type: UInt32, source: IPAddress, destination: IPAddress, destinationPort: UInt16) {
            request.nest(Int(type)) {
                request.nest(Int(CTA_TUPLE_IP.rawValue)) {
                    request.put(Int(family ? CTA_IP_V4_SRC.rawValue : CTA_IP_V6_SRC.rawValue), bytes: source.bytes)
                    request.put(Int(family ? CTA_IP_V4_DST.rawValue : CTA_IP_V6_DST.rawValue), bytes: destination.bytes)
                }
                request.nest(Int(CTA_TUPLE_PROTO.rawValue)) {
                    request.put(Int(CTA_PROTO_NUM.rawValue), u8: proto)
                    request.put(Int(CTA_PROTO_SRC_PORT.rawValue), bytes: [0xc3, 0x50])
                    request.put(Int(CTA_PROTO_DST_PORT.rawValue), bytes: [UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff)])
                }
            }
        }
        tuple(CTA_TUPLE_ORIG.rawValue, source: client, destination: destination, destinationPort: port)
        tuple(CTA_TUPLE_REPLY.rawValue, source: endpoint, destination: client, destinationPort: 50000)
        return ConntrackEntry(payload: Array(request.bytes.dropFirst(16)))
    }

    @Test func anUnfilteredDumpDeletesOnlyTheGoneEndpointsUDPFlows() throws {
        let client = IPAddress("10.244.1.4")!
        let flows: Set<Conntrack.UDPFlow> = [Conntrack.UDPFlow(destination: Self.frontend, port: 53, replySource: Self.gone)]
        // What a kernel that ignored the filter sends: every endpoint's entries, of every protocol.
        let dump = [
            Self.entry(proto: 17, client: client, to: Self.frontend, port: 53, answeredBy: Self.stays),
            Self.entry(proto: 6, client: client, to: Self.frontend, port: 53, answeredBy: Self.gone),
            Self.entry(proto: 17, client: client, to: Self.frontend, port: 54, answeredBy: Self.gone),
            Self.entry(proto: 17, client: client, to: IPAddress("10.96.0.11")!, port: 53, answeredBy: Self.gone),
            Self.entry(proto: 17, client: client, to: Self.frontend, port: 53, answeredBy: Self.gone),
            Self.entry(proto: 17, client: IPAddress("fd00::4")!, to: IPAddress("fd00::a")!, port: 53, answeredBy: IPAddress("fd00::7")!),
        ].compactMap { $0 }
        try #require(dump.count == 6, "every entry parsed")
        let stale = dump[4]
        #expect(Conntrack.staleUDP(dump, family: .v4, flows: flows) == [stale], "only the gone endpoint's UDP flow to the frontend's port")
        #expect(Conntrack.staleUDP(dump, family: .v6, flows: flows).isEmpty, "nothing of the other family")
        // The control, from the same dump: the endpoint that stays is chosen once it is named gone too.
        let both = flows.union([Conntrack.UDPFlow(destination: Self.frontend, port: 53, replySource: Self.stays)])
        #expect(Conntrack.staleUDP(dump, family: .v4, flows: both) == [dump[0], stale])
    }

    /// A dump with what the filter leaves out is a kernel that ignored it: deleteUDP then chooses every
    /// endpoint's flows from that one dump instead of asking for the whole table once per endpoint.
    @Test func aDumpHoldingWhatItsFilterLeavesOutReadsAsIgnored() throws {
        let client = IPAddress("10.244.1.4")!
        let filter = ConntrackFilter(family: .v4, proto: 17, replySource: Self.gone)
        let honoured = [Self.entry(proto: 17, client: client, to: Self.frontend, port: 53, answeredBy: Self.gone)].compactMap { $0 }
        try #require(honoured.count == 1)
        #expect(!Conntrack.filterIgnored(honoured, filter), "the control: only what the filter asked for")
        #expect(!Conntrack.filterIgnored([], filter))
        let otherEndpoint = honoured + [Self.entry(proto: 17, client: client, to: Self.frontend, port: 53, answeredBy: Self.stays)].compactMap { $0 }
        let otherProtocol = honoured + [Self.entry(proto: 6, client: client, to: Self.frontend, port: 53, answeredBy: Self.gone)].compactMap { $0 }
        try #require(otherEndpoint.count == 2 && otherProtocol.count == 2)
        #expect(Conntrack.filterIgnored(otherEndpoint, filter))
        #expect(Conntrack.filterIgnored(otherProtocol, filter))
        #expect(!Conntrack.filterIgnored(otherEndpoint, ConntrackFilter(family: .v4, proto: 17)), "no endpoint named: any reply source")
    }
}
