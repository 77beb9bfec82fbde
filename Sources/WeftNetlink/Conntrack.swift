import CMnl
import SystemPackage
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// One conntrack entry as ctnetlink dumps it: the original direction's tuple, the reply's source,
/// and the raw original tuple to name it in a delete.
public struct ConntrackEntry: Equatable, Sendable {
    public let proto: UInt8
    public let originalSource: IPAddress
    public let originalDestination: IPAddress
    public let originalDestinationPort: UInt16
    public let replySource: IPAddress
    public let replyDestination: IPAddress
    let originalTuple: [UInt8]
    let zone: [UInt8]?

    /// Parses IPCTNL_MSG_CT_NEW's payload: nfgenmsg (4 bytes), then CTA_* attributes.
    public init?(payload: [UInt8]) {
        let attributes = NetlinkAttribute.parse(payload, from: 4)
        guard let original = attributes.first(Int(CTA_TUPLE_ORIG.rawValue)), let reply = attributes.first(Int(CTA_TUPLE_REPLY.rawValue)),
            let source = Self.address(original, source: true), let destination = Self.address(original, source: false),
            let replySource = Self.address(reply, source: true), let replyDestination = Self.address(reply, source: false)
        else { return nil }
        let protoAttributes = original.nested.first(Int(CTA_TUPLE_PROTO.rawValue))?.nested ?? []
        proto = protoAttributes.first(Int(CTA_PROTO_NUM.rawValue))?.u8 ?? 0
        let port = protoAttributes.first(Int(CTA_PROTO_DST_PORT.rawValue))?.value ?? [0, 0]
        originalDestinationPort = port.count >= 2 ? UInt16(port[0]) << 8 | UInt16(port[1]) : 0
        originalSource = source
        originalDestination = destination
        self.replySource = replySource
        self.replyDestination = replyDestination
        originalTuple = original.value
        zone = attributes.first(Int(CTA_ZONE.rawValue))?.value
    }

    /// Every address either direction of the entry names (NAT makes the reply's differ from the original's).
    public var addresses: [IPAddress] { [originalSource, originalDestination, replySource, replyDestination] }

    private static func address(_ tuple: NetlinkAttribute, source: Bool) -> IPAddress? {
        let ip = tuple.nested.first(Int(CTA_TUPLE_IP.rawValue))?.nested ?? []
        let v4 = ip.first(Int(source ? CTA_IP_V4_SRC.rawValue : CTA_IP_V4_DST.rawValue))
        let v6 = ip.first(Int(source ? CTA_IP_V6_SRC.rawValue : CTA_IP_V6_DST.rawValue))
        return (v4 ?? v6).flatMap { IPAddress(bytes: $0.value) }
    }
}

/// The conntrack table of a handle's namespace, through ctnetlink: a view of its NETLINK_NETFILTER
/// socket, shared with nftables.
public final class Conntrack {
    public let handle: NetlinkHandle
    var connection: NetlinkSocket { get throws { try handle.netfilter } }
    static let udp: UInt8 = 17
    /// The kernel refused a dump filter once: later dumps of this object go unfiltered.
    var filterRefused = false
    /// Past this many endpoints of one family, one dump of the family's UDP entries costs less than
    /// one per endpoint (each dump walks the kernel's whole table).
    static let endpointDumps = 16

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    static func messageType(_ message: UInt32) -> Int { Int(NFNL_SUBSYS_CTNETLINK) << 8 | Int(message) }

    static func header(_ family: IPAddress.Family) -> nfgenmsg {
        var header = nfgenmsg()
        header.nfgen_family = UInt8(family == .v4 ? AF_INET : AF_INET6)
        header.version = UInt8(NFNETLINK_V0)
        return header
    }

    public func entries(family: IPAddress.Family) throws -> [ConntrackEntry] {
        let request = NetlinkRequest(type: Self.messageType(IPCTNL_MSG_CT_GET.rawValue), flags: NLM_F_DUMP)
        request.putStruct(Self.header(family))
        return try connection.execute(request, operation: "list conntrack").compactMap { ConntrackEntry(payload: $0.payload) }
    }

    /// Deletes one entry; one already gone (expired, or deleted by a racing process) is not an error.
    public func delete(_ entry: ConntrackEntry) throws {
        let request = NetlinkRequest(type: Self.messageType(IPCTNL_MSG_CT_DELETE.rawValue), flags: NLM_F_ACK)
        request.putStruct(Self.header(entry.originalDestination.family))
        request.put(Int(CTA_TUPLE_ORIG.rawValue) | Int(NLA_F_NESTED), bytes: entry.originalTuple)
        if let zone = entry.zone { request.put(Int(CTA_ZONE.rawValue), bytes: zone) }
        do {
            try connection.execute(request, operation: "delete conntrack entry to \(entry.originalDestination):\(entry.originalDestinationPort)")
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {}
    }

    /// Deletes every entry, of any protocol, whose original or reply tuple names one of `addresses`: an
    /// address given to a new pod must not inherit the flows of the one before (an established flow
    /// passes NetworkPolicy's `ct state established` and a DNAT keeps its old target).
    @discardableResult
    public func deleteFlows(naming addresses: Set<IPAddress>) throws -> Int {
        var deleted = 0
        for family in [IPAddress.Family.v4, .v6] where addresses.contains(where: { $0.family == family }) {
            for entry in try entries(family: family) where entry.addresses.contains(where: addresses.contains) {
                try delete(entry)
                deleted += 1
            }
        }
        return deleted
    }

    /// Deletes the UDP entries that would keep steering a flow somewhere stale: those addressed to one of
    /// `ports` (a hostPort now pointing elsewhere) and those to or from one of `addresses` (a pod that is gone).
    /// UDP has no handshake to end an entry, so a client streaming to a hostPort would keep its old DNAT forever.
    @discardableResult
    public func deleteUDP(toPorts ports: Set<UInt16>, addresses: Set<IPAddress>) throws -> Int {
        var deleted = 0
        let families = Set(addresses.map(\.family)).union(ports.isEmpty ? [] : [.v4, .v6])
        for family in families.sorted(by: { $0 == .v4 && $1 == .v6 }) {
            for entry in try entries(family: family) where entry.proto == Self.udp {
                let stale =
                    ports.contains(entry.originalDestinationPort)
                    || addresses.contains(entry.originalDestination) || addresses.contains(entry.replySource)
                if stale {
                    try delete(entry)
                    deleted += 1
                }
            }
        }
        return deleted
    }

    /// One UDP flow to forget: sent to `destination`:`port` (a Service's frontend), answered by `replySource`
    /// (the endpoint it was DNATed to).
    public struct UDPFlow: Hashable, Sendable {
        public var destination: IPAddress
        public var port: UInt16
        public var replySource: IPAddress

        public init(destination: IPAddress, port: UInt16, replySource: IPAddress) {
            self.destination = destination; self.port = port; self.replySource = replySource
        }
    }

    /// Deletes the UDP entries whose original destination is one flow's address and port and whose reply
    /// comes from its reply source: a client of a Service whose endpoint went away must pick a live one on
    /// its next packet, while flows to the endpoints that stay keep theirs. The kernel sends back only
    /// UDP entries answered by the endpoints named (one filtered dump per endpoint; one of the family's
    /// UDP entries past `endpointDumps`); what is deleted is chosen by `staleUDP` from whatever came back.
    @discardableResult
    public func deleteUDP(flows: Set<UDPFlow>) throws -> Int {
        var deleted = 0
        for family in [IPAddress.Family.v4, .v6] {
            let endpoints = Set(flows.filter { $0.destination.family == family }.map(\.replySource))
            guard !endpoints.isEmpty else { continue }
            let filters =
                endpoints.count > Self.endpointDumps
                ? [ConntrackFilter(family: family, proto: Self.udp)]
                : endpoints.sorted().map { ConntrackFilter(family: family, proto: Self.udp, replySource: $0) }
            for filter in filters {
                let dump = try entries(filter)
                // A dump holding what its filter leaves out came from a kernel that ignored the filter
                // (before 5.9): it is every entry of the family, so every endpoint's flows are chosen from
                // it and the other dumps, each the whole table again, are not asked for.
                let ignored = Self.filterIgnored(dump, filter)
                // Else only this dump's endpoint's flows.
                let wanted = ignored ? flows : filter.replySource.map { source in flows.filter { $0.replySource == source } } ?? flows
                for entry in Self.staleUDP(dump, family: family, flows: wanted) {
                    try delete(entry)
                    deleted += 1
                }
                if ignored { break }
            }
        }
        return deleted
    }

    /// Whether `dump` holds an entry `filter` leaves out (another protocol, another reply source): the
    /// kernel ignored the filter. A dump that happens to hold only matching entries reads as honoured,
    /// which costs at most the dumps the filter would have saved.
    public static func filterIgnored(_ dump: [ConntrackEntry], _ filter: ConntrackFilter) -> Bool {
        dump.contains { entry in entry.proto != filter.proto || filter.replySource.map { entry.replySource != $0 } ?? false }
    }

    /// The entries of a dump that are one of `flows`: UDP, of `family`, sent to a flow's address and port
    /// and answered by its reply source. The dump's filter is never trusted to have chosen them: a kernel
    /// before 5.9 ignores CTA_FILTER (an attribute it does not know, on a dump) and sends every entry of
    /// the family, of every protocol and endpoint; what is deleted is decided here alone.
    public static func staleUDP(_ dump: [ConntrackEntry], family: IPAddress.Family, flows: Set<UDPFlow>) -> [ConntrackEntry] {
        dump.filter { entry in
            entry.proto == udp && entry.originalDestination.family == family && entry.replySource.family == family
                && flows.contains(UDPFlow(destination: entry.originalDestination, port: entry.originalDestinationPort, replySource: entry.replySource))
        }
    }
}
