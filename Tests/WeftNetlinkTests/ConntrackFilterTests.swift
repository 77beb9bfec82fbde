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
