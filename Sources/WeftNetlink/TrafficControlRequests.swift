import CMnl
#if canImport(Glibc)
import Glibc
#endif

/// Builders for the traffic-control requests Weft sends (qdiscs, a filter, the IFB link). Pure: they
/// only lay out bytes, so tests compare them.
public enum TrafficControlRequests {
    static let tcmsgSize = MemoryLayout<tcmsg>.size
    /// The redirect filter's priority, as the reference plugin and `tc filter add … prio 1` give it.
    public static let redirectPriority: UInt16 = 1
    /// ETH_P_ALL, in network byte order as tcm_info carries a filter's protocol (`protocol all`).
    static let allProtocols = UInt16(ETH_P_ALL).bigEndian

    static func header(linkIndex: Int32, handle: UInt32 = 0, parent: UInt32, info: UInt32 = 0) -> tcmsg {
        var header = tcmsg()
        header.tcm_family = UInt8(AF_UNSPEC)
        header.tcm_ifindex = linkIndex
        header.tcm_handle = handle
        header.tcm_parent = parent
        header.tcm_info = info
        return header
    }

    /// `tc qdisc replace dev LINK root handle 1: tbf rate … burst … limit …`. With NLM_F_REPLACE an
    /// existing TBF 1: takes the new parameters in place, and any other root qdisc is replaced.
    /// TCA_TBF_BURST hands the kernel the bucket size in bytes, from which it computes the buffer time
    /// itself (exactly, in 64-bit ns) and ignores tc_tbf_qopt.buffer; the buffer is still filled in,
    /// clamped to 32 bits, as tc does. The rate's link layer is Ethernet, as tc sets it, so the kernel
    /// does not look for the rate table that neither tc nor Weft sends.
    public static func replaceRootTokenBucket(linkIndex: Int32, bucket: TokenBucket) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWQDISC), flags: NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK)
        request.putStruct(header(linkIndex: linkIndex, handle: TrafficHandle.tokenBucket, parent: TrafficHandle.root))
        request.put(Int(TCA_KIND), string: "tbf")
        var parameters = tc_tbf_qopt()
        parameters.rate.linklayer = UInt8(TC_LINKLAYER_ETHERNET.rawValue)
        // Rates of 2^32 bytes/s and more do not fit here: 0xffffffff, and the rate in TCA_TBF_RATE64.
        parameters.rate.rate = UInt32(clamping: bucket.rateBytesPerSecond)
        parameters.limit = bucket.limitBytes
        parameters.buffer = UInt32(clamping: bucket.bufferTicks)
        request.nest(Int(TCA_OPTIONS)) {
            request.put(Int(TCA_TBF_PARMS), structure: parameters)
            if bucket.rateBytesPerSecond > UInt64(UInt32.max) {
                request.put(Int(TCA_TBF_RATE64), u64: bucket.rateBytesPerSecond)
            }
            request.put(Int(TCA_TBF_BURST), u32: bucket.burstBytes)
        }
        return request
    }

    /// `tc qdisc del dev LINK root`.
    public static func deleteRootQdisc(linkIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELQDISC), flags: NLM_F_ACK)
        request.putStruct(header(linkIndex: linkIndex, parent: TrafficHandle.root))
        return request
    }

    /// `tc qdisc add dev LINK handle ffff: ingress`: the hook whose filters see every received packet.
    public static func addIngressQdisc(linkIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWQDISC), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
        request.putStruct(header(linkIndex: linkIndex, handle: TrafficHandle.ingressQdisc, parent: TrafficHandle.ingress))
        request.put(Int(TCA_KIND), string: "ingress")
        return request
    }

    /// `tc qdisc del dev LINK ingress`, which takes the ingress filters with it.
    public static func deleteIngressQdisc(linkIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELQDISC), flags: NLM_F_ACK)
        request.putStruct(header(linkIndex: linkIndex, handle: TrafficHandle.ingressQdisc, parent: TrafficHandle.ingress))
        return request
    }

    /// `tc filter add dev LINK parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress
    /// redirect dev TARGET`: every packet LINK receives leaves through TARGET instead (TC_ACT_STOLEN: it
    /// does not continue up LINK's stack). The kernel picks the u32 handle (800::800 for the first).
    public static func addRedirectFilter(linkIndex: Int32, targetIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWTFILTER), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
        // tcm_info: the priority in the upper 16 bits, the protocol in the lower (TC_H_MAKE(prio << 16, proto)).
        let info = UInt32(redirectPriority) << 16 | UInt32(allProtocols)
        request.putStruct(header(linkIndex: linkIndex, parent: TrafficHandle.ingressQdisc, info: info))
        request.put(Int(TCA_KIND), string: "u32")
        request.nest(Int(TCA_OPTIONS)) {
            request.put(Int(TCA_U32_SEL), bytes: matchAllSelector())
            request.nest(Int(TCA_U32_ACT)) {
                request.nest(1) {  // the first action in order
                    request.put(Int(TCA_ACT_KIND), string: "mirred")
                    request.nest(Int(TCA_ACT_OPTIONS)) {
                        var mirred = tc_mirred()
                        mirred.action = TC_ACT_STOLEN
                        mirred.eaction = TCA_EGRESS_REDIR
                        mirred.ifindex = UInt32(bitPattern: targetIndex)
                        request.put(Int(TCA_MIRRED_PARMS), structure: mirred)
                    }
                }
            }
        }
        return request
    }

    /// `match u32 0 0`: one key that compares nothing (mask 0), so every packet matches; terminal, as tc
    /// marks a selector followed by an action. tc_u32_sel (16 bytes) then its tc_u32_key (16 bytes).
    static func matchAllSelector() -> [UInt8] {
        var selector = tc_u32_sel()
        selector.flags = UInt8(TC_U32_TERMINAL)
        selector.nkeys = 1
        let key = tc_u32_key()
        return withUnsafeBytes(of: selector) { Array($0) } + withUnsafeBytes(of: key) { Array($0) }
    }

    /// Every qdisc of the namespace: the kernel does not filter a qdisc dump by link, the caller does.
    public static func dumpQdiscs(linkIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETQDISC), flags: NLM_F_DUMP)
        request.putStruct(header(linkIndex: linkIndex, parent: 0))
        return request
    }

    /// The filters under `parent` on one link (the kernel requires the link and looks the parent up).
    public static func dumpFilters(linkIndex: Int32, parent: UInt32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETTFILTER), flags: NLM_F_DUMP)
        request.putStruct(header(linkIndex: linkIndex, parent: parent))
        return request
    }

    /// An IFB (intermediate functional block) link, created up: what is redirected to it leaves through
    /// it, past its root qdisc, and comes back to the stack where it was taken from.
    public static func createIFB(name: String, mtu: UInt32?) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: RouteRequests.create)
        request.putStruct(RouteRequests.linkHeader(up: true))
        request.put(Int(IFLA_IFNAME), string: name)
        if let mtu { request.put(Int(IFLA_MTU), u32: mtu) }
        request.nest(Int(IFLA_LINKINFO)) {
            request.put(Int(IFLA_INFO_KIND), string: "ifb")
        }
        return request
    }
}

extension TrafficControlRequests {
    /// One link's root qdisc, without walking the namespace. The kernel answers a non-dump get with a
    /// notification of the qdisc, sent to the asker only under NLM_F_ECHO (else to RTNLGRP_TC listeners
    /// alone). A default root comes back with handle 0 (noqueue on a veth, pfifo_fast on an IFB).
    public static func getRootQdisc(linkIndex: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETQDISC), flags: NLM_F_ECHO | NLM_F_ACK)
        request.putStruct(header(linkIndex: linkIndex, parent: TrafficHandle.root))
        return request
    }
}
