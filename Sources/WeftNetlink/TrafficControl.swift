import CMnl
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Traffic shaping in one network namespace, over rtnetlink (no `tc`): a TBF as a link's root qdisc,
/// IFB links, and the ingress redirect that sends a link's received packets out through an IFB.
///
/// Per-pod bandwidth as the reference plugin lays it out: traffic into the pod leaves the host veth, so
/// `shapeEgressOfLink(hostVeth)` shapes it; traffic out of the pod is received by the host veth, where no
/// qdisc can delay it, so `redirectIngress(hostVeth → ifb)` sends it through an IFB whose root TBF shapes it.
///
/// A view of its handle's NETLINK_ROUTE socket, shared with the RouteNetlink of the same handle.
public final class TrafficControl {
    public let handle: NetlinkHandle
    private var connection: NetlinkSocket { get throws { try handle.route } }
    private let clock: PacketSchedulerClock

    public init(handle: NetlinkHandle, clock: PacketSchedulerClock) {
        self.handle = handle
        self.clock = clock
    }

    /// Over `handle`, with the kernel's scheduler clock (read from /proc/net/psched).
    public convenience init(handle: NetlinkHandle) throws {
        self.init(handle: handle, clock: try PacketSchedulerClock.system())
    }

    /// Over one transport (a test's replayed bytes).
    public convenience init(transport: NetlinkTransport, clock: PacketSchedulerClock) {
        self.init(handle: NetlinkHandle(route: transport), clock: clock)
    }

    /// The bucket `shapeEgressOfLink` installs for these values, for comparing with `qdiscs(linkIndex:)`.
    public func tokenBucket(rateBitsPerSecond: UInt64, burstBits: UInt64) throws -> TokenBucket {
        try TokenBucket(rateBitsPerSecond: rateBitsPerSecond, burstBits: burstBits, clock: clock)
    }

    /// Makes a TBF with these values the link's root qdisc (handle 1:), replacing what was there:
    /// calling it again with other values changes the rates in place.
    public func shapeEgressOfLink(index: Int32, rateBitsPerSecond: UInt64, burstBits: UInt64) throws {
        let bucket = try tokenBucket(rateBitsPerSecond: rateBitsPerSecond, burstBits: burstBits)
        try connection.execute(
            TrafficControlRequests.replaceRootTokenBucket(linkIndex: index, bucket: bucket),
            operation: "shape link \(index) to \(rateBitsPerSecond) bit/s, burst \(burstBits) bit")
    }

    /// Removes the link's root qdisc, which leaves the kernel's default. Returns false when there was
    /// nothing to remove: the kernel answers ENOENT when the root is its default ("Cannot delete qdisc
    /// with handle of zero"); EINVAL, a handle that does not match, counts as nothing there too.
    @discardableResult
    public func removeRootQdisc(linkIndex: Int32) throws -> Bool {
        try tolerateAbsence {
            try connection.execute(
                TrafficControlRequests.deleteRootQdisc(linkIndex: linkIndex),
                operation: "remove root qdisc of link \(linkIndex)")
        }
    }

    /// Sends every packet `fromLinkIndex` receives out through `toLinkIndex` (an IFB): an ingress qdisc
    /// and one u32 match-all filter with a mirred egress redirect. An ingress qdisc already there is
    /// removed first, with its filters, so that calling it again leaves exactly one redirect.
    public func redirectIngress(fromLinkIndex: Int32, toLinkIndex: Int32) throws {
        try removeIngressQdisc(linkIndex: fromLinkIndex)
        try connection.execute(
            TrafficControlRequests.addIngressQdisc(linkIndex: fromLinkIndex),
            operation: "add ingress qdisc to link \(fromLinkIndex)")
        try connection.execute(
            TrafficControlRequests.addRedirectFilter(linkIndex: fromLinkIndex, targetIndex: toLinkIndex),
            operation: "redirect ingress of link \(fromLinkIndex) to link \(toLinkIndex)")
    }

    /// Removes the ingress qdisc and its filters; false when there was none.
    @discardableResult
    public func removeIngressQdisc(linkIndex: Int32) throws -> Bool {
        try tolerateAbsence {
            try connection.execute(
                TrafficControlRequests.deleteIngressQdisc(linkIndex: linkIndex),
                operation: "remove ingress qdisc of link \(linkIndex)")
        }
    }

    /// The link's qdiscs (root, ingress, and any children), with a TBF's parameters.
    public func qdiscs(linkIndex: Int32) throws -> [Qdisc] {
        try connection.execute(TrafficControlRequests.dumpQdiscs(linkIndex: linkIndex), operation: "list qdiscs")
            .compactMap { Qdisc(payload: $0.payload) }
            .filter { $0.linkIndex == linkIndex }
    }

    /// The link's root qdisc, asked for alone (a dump walks every link of the namespace, pods and all);
    /// nil when the root is the kernel's default (handle 0: noqueue on a veth, pfifo_fast on an IFB),
    /// which is never Weft's, or one the kernel declines to report (EINVAL for its built-in noop).
    public func rootQdisc(linkIndex: Int32) throws -> Qdisc? {
        do {
            return try connection.execute(
                TrafficControlRequests.getRootQdisc(linkIndex: linkIndex),
                operation: "get root qdisc of link \(linkIndex)"
            )
            .lazy.compactMap { Qdisc(payload: $0.payload) }.first { $0.handle != 0 }
        } catch let error as NetlinkError where [.invalidArgument, .noSuchFileOrDirectory].contains(error.code) {
            return nil
        }
    }

    /// The mirred actions of the filters on the link's ingress qdisc: the IFB it redirects to, when
    /// `redirectIngress` installed it. Empty when the link has no ingress qdisc.
    public func ingressRedirects(linkIndex: Int32) throws -> [MirredAction] {
        try connection.execute(
            TrafficControlRequests.dumpFilters(linkIndex: linkIndex, parent: TrafficHandle.ingressQdisc),
            operation: "list ingress filters of link \(linkIndex)"
        )
        .flatMap { MirredAction.all(inFilter: $0.payload) }
    }

    /// Creates an IFB link, up, and returns its index. EEXIST (NetlinkError.isExists) when the name is taken.
    /// The alias is set afterwards: the kernel ignores IFLA_IFALIAS in a create message.
    public func createIFB(name: String, mtu: UInt32?, alias: String?) throws -> Int32 {
        try connection.execute(TrafficControlRequests.createIFB(name: name, mtu: mtu), operation: "create ifb \(name)")
        do {
            let replies = try connection.execute(RouteRequests.getLink(name: name), operation: "get link \(name)")
            guard let link = replies.lazy.compactMap({ Link(payload: $0.payload) }).first else {
                throw NetlinkError("get link \(name)", code: .operationNotSupportedByDevice)
            }
            if let alias {
                try connection.execute(RouteRequests.setAlias(index: link.index, alias: alias), operation: "set alias of ifb \(name)")
            }
            return link.index
        } catch {
            // Half made is not made: the caller gets an error, so nothing would ever delete this IFB.
            _ = try? deleteIFB(name: name)
            throw error
        }
    }

    /// Deletes the IFB `name` (its qdiscs go with it); false when there was no such link.
    @discardableResult
    public func deleteIFB(name: String) throws -> Bool {
        do {
            try connection.execute(RouteRequests.deleteLink(name: name), operation: "delete ifb \(name)")
            return true
        } catch let error as NetlinkError where error.isNoDevice {
            return false
        }
    }

    private func tolerateAbsence(_ body: () throws -> Void) throws -> Bool {
        do {
            try body()
            return true
        } catch let error as NetlinkError where [.noSuchFileOrDirectory, .invalidArgument].contains(error.code) {
            return false
        }
    }
}
