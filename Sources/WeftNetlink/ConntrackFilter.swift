import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// What a conntrack dump asks the kernel to send back: ctnetlink's dump filter (CTA_FILTER, Linux 5.9,
/// nf_conntrack_netlink.c's ctnetlink_alloc_filter and ctnetlink_filter_match). The kernel still walks
/// its whole table, but copies only the matching entries into the dump: a UDP endpoint's change reads
/// that endpoint's entries, not every connection of the node.
///
/// The request carries the family (nfgenmsg: entries of other families are skipped), the tuples'
/// fields to match and CTA_FILTER's flags naming which fields count: here the original tuple's
/// protocol and, when given, the reply tuple's source address (the endpoint a DNAT chose).
/// A kernel before 5.9 ignores the unknown attribute and dumps everything; one that refuses the filter
/// answers EOPNOTSUPP or EINVAL. Either way callers still match each entry themselves.
public struct ConntrackFilter: Hashable, Sendable {
    public var family: IPAddress.Family
    /// The original tuple's protocol number (17 for UDP).
    public var proto: UInt8
    /// The reply tuple's source: the endpoint answering the flow. Nil: any.
    public var replySource: IPAddress?

    public init(family: IPAddress.Family, proto: UInt8, replySource: IPAddress? = nil) {
        self.family = family; self.proto = proto; self.replySource = replySource
    }

    // CTA_FILTER_F_* of linux/netfilter/nfnetlink_conntrack.h (5.9); older uapi headers lack them.
    static let ipSourceFlag: UInt32 = 1 << 0  // CTA_FILTER_F_CTA_IP_SRC
    static let protoNumberFlag: UInt32 = 1 << 3  // CTA_FILTER_F_CTA_PROTO_NUM

    /// IPCTNL_MSG_CT_GET as a dump with the filter.
    public var request: NetlinkRequest {
        let request = NetlinkRequest(type: Conntrack.messageType(IPCTNL_MSG_CT_GET.rawValue), flags: NLM_F_DUMP)
        request.putStruct(Conntrack.header(family))
        request.nest(Int(CTA_TUPLE_ORIG.rawValue)) {
            request.nest(Int(CTA_TUPLE_PROTO.rawValue)) { request.put(Int(CTA_PROTO_NUM.rawValue), u8: proto) }
        }
        if let replySource {
            request.nest(Int(CTA_TUPLE_REPLY.rawValue)) {
                request.nest(Int(CTA_TUPLE_IP.rawValue)) {
                    let type = replySource.family == .v4 ? CTA_IP_V4_SRC.rawValue : CTA_IP_V6_SRC.rawValue
                    request.put(Int(type), bytes: replySource.bytes)
                }
            }
        }
        request.nest(Int(CTA_FILTER.rawValue)) {
            request.put(Int(CTA_FILTER_ORIG_FLAGS.rawValue), u32: Self.protoNumberFlag)
            if replySource != nil { request.put(Int(CTA_FILTER_REPLY_FLAGS.rawValue), u32: Self.ipSourceFlag) }
        }
        return request
    }
}

extension Conntrack {
    /// The entries `filter` matches, as the kernel filters them; every entry of the family when the
    /// kernel refuses the filter (EOPNOTSUPP, EINVAL). Callers match each entry themselves: a kernel
    /// before 5.9 does not know CTA_FILTER and dumps all.
    public func entries(_ filter: ConntrackFilter) throws -> [ConntrackEntry] {
        if !filterRefused {
            do {
                let replies = try connection.execute(filter.request, operation: "list conntrack (filtered)")
                return replies.compactMap { ConntrackEntry(payload: $0.payload) }
            } catch let error as NetlinkError where error.errno == EOPNOTSUPP || error.errno == EINVAL {
                filterRefused = true
            }
        }
        return try entries(family: filter.family)
    }
}
