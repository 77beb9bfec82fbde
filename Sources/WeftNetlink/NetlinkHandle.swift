import CMnl
import SystemPackage
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Netlink in one network namespace: one socket per netlink family (NETLINK_ROUTE, NETLINK_NETFILTER),
/// each opened inside the namespace on first use and kept, so a command opens at most one of each per
/// namespace however many objects it changes. Each socket owns its sequence numbers (NetlinkSocket).
/// Links, addresses, routes, rules, neighbours, traffic control (RouteNetlink, OverlayNetlink,
/// TrafficControl), conntrack and nftables (NftClient) are views that send through it.
///
/// A socket is used by one thread at a time; two threads may use two families of one handle at once
/// (the plugin's DEL deletes links and nftables elements side by side), so opening one is locked.
public final class NetlinkHandle {
    private let open: (Int32) throws -> NetlinkTransport
    private var sockets: [Int32: NetlinkSocket] = [:]
    private let lock = ThreadLock()

    /// A handle whose sockets `open` makes, given the netlink family: recorded bytes in tests.
    public init(opening open: @escaping (Int32) throws -> NetlinkTransport) {
        self.open = open
    }

    /// A handle on `namespace`. A netlink socket belongs to the namespace it was opened in, whichever
    /// thread uses it later: each is opened with the calling thread inside `namespace` (setns only when
    /// the thread is elsewhere, which needs CAP_SYS_ADMIN).
    public convenience init(in namespace: NetworkNamespace, receiveTimeoutSeconds: Int = MnlTransport.defaultReceiveTimeout) {
        self.init { family in try Self.openTransport(family, in: namespace, receiveTimeoutSeconds: receiveTimeoutSeconds) }
    }

    /// A handle on the calling thread's namespace, held open (its /proc/thread-self/ns/net) so that sockets
    /// opened later from another thread, or inside another namespace's `run`, still land in it. Failing
    /// to open it fails the first request, not this call.
    public static func current(receiveTimeoutSeconds: Int = MnlTransport.defaultReceiveTimeout) -> NetlinkHandle {
        let namespace = Result { try NetworkNamespace(path: "/proc/thread-self/ns/net") }
        return NetlinkHandle { family in
            try openTransport(family, in: try namespace.get(), receiveTimeoutSeconds: receiveTimeoutSeconds)
        }
    }

    private static func openTransport(_ family: Int32, in namespace: NetworkNamespace, receiveTimeoutSeconds: Int) throws -> NetlinkTransport {
        let make = { try MnlTransport(protocol: family, receiveTimeoutSeconds: receiveTimeoutSeconds) as NetlinkTransport }
        return namespace.isCurrentThreadNamespace ? try make() : try namespace.run(make)
    }

    /// A handle with one transport for NETLINK_ROUTE (a test's replayed bytes); other families are refused.
    public convenience init(route transport: NetlinkTransport) {
        self.init { family in
            guard family == NETLINK_ROUTE else { throw NetlinkError("open netlink family \(family)", code: .protocolNotSupported) }
            return transport
        }
    }

    /// The socket of `family`, opened on first use, and again after one broke mid-exchange.
    public func socket(_ family: Int32) throws -> NetlinkSocket {
        try lock.withLock {
            if let socket = sockets[family], !socket.isBroken { return socket }
            let socket = NetlinkSocket(transport: try open(family))
            sockets[family] = socket
            return socket
        }
    }

    /// NETLINK_ROUTE: links, addresses, routes, rules, neighbours, qdiscs and filters.
    public var route: NetlinkSocket { get throws { try socket(NETLINK_ROUTE) } }
    /// NETLINK_NETFILTER: nftables and conntrack.
    public var netfilter: NetlinkSocket { get throws { try socket(NETLINK_NETFILTER) } }
}
