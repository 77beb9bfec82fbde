import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// Policy-routing rules and the neighbour entries of the routed datapath: a permanent entry inside a
/// pod for its link-local next hop, and proxy entries on an uplink so the underlay finds pods.
public enum PolicyRequests {
    /// `ip rule add from|to ADDRESS/len lookup TABLE priority PRIORITY` (or its delete, matched on the same fields).
    public static func rule(add: Bool, from: IPNetwork? = nil, to: IPNetwork? = nil, table: UInt32, priority: UInt32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(add ? RTM_NEWRULE : RTM_DELRULE), flags: add ? NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK : NLM_F_ACK)
        var header = fib_rule_hdr()
        header.family = UInt8(((from ?? to)?.family ?? .v4).socketFamily)
        header.src_len = UInt8(from?.prefixLength ?? 0)
        header.dst_len = UInt8(to?.prefixLength ?? 0)
        header.action = UInt8(FR_ACT_TO_TBL)
        header.table = table < 256 ? UInt8(table) : 0
        request.putStruct(header)
        if let from { request.put(Int(FRA_SRC), bytes: from.networkAddress.bytes) }
        if let to { request.put(Int(FRA_DST), bytes: to.networkAddress.bytes) }
        request.put(Int(FRA_TABLE), u32: table)
        request.put(Int(FRA_PRIORITY), u32: priority)
        return request
    }

    /// ADDRESS is at MAC on `index`, for good (NUD_PERMANENT: never probed, never expired).
    public static func permanentNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWNEIGH), flags: NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK)
        var header = ndmsg()
        header.ndm_family = UInt8(address.family.socketFamily)
        header.ndm_ifindex = index
        header.ndm_state = UInt16(NUD_PERMANENT)
        request.putStruct(header)
        request.put(Int(NDA_DST), bytes: address.bytes)
        request.put(Int(NDA_LLADDR), bytes: mac)
        return request
    }

    /// A proxy entry (NTF_PROXY): the node answers ARP (with forwarding on) or NDP (with proxy_ndp) for
    /// ADDRESS on `index`, as it would for its own.
    public static func proxyNeighbour(add: Bool, _ address: IPAddress, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(add ? RTM_NEWNEIGH : RTM_DELNEIGH), flags: add ? NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK : NLM_F_ACK)
        var header = ndmsg()
        header.ndm_family = UInt8(address.family.socketFamily)
        header.ndm_ifindex = index
        header.ndm_flags = UInt8(NTF_PROXY)
        request.putStruct(header)
        request.put(Int(NDA_DST), bytes: address.bytes)
        return request
    }
}
