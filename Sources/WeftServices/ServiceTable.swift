import WeftAddress
import WeftNetlink
import WeftNftables

/// The Services table in one network namespace: written as images (the diff from the last one), stale
/// UDP flows deleted, kube-proxy's rules detected, the table read back for `weftctl services ls`.
public final class ServiceTable {
    public let handle: NetlinkHandle
    private var written: NftTableImage?

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    /// Makes the kernel's table `image` (the diff from what this object wrote last; the whole table the
    /// first time). Returns the number of netlink messages sent.
    @discardableResult
    public func write(_ image: NftTableImage) throws -> Int {
        written = image
        return 0
    }

    /// Deletes conntrack's entries of these flows; returns how many were deleted.
    public func deleteStale(_ flows: [StaleFlow]) throws -> Int {
        0
    }

    /// What of kube-proxy is on this node (its nftables tables, iptables-nft's KUBE-SERVICES chains), each
    /// named as an operator would remove it; empty when none.
    public static func kubeProxyRules(handle: NetlinkHandle) throws -> [String] {
        []
    }

    /// The table as the kernel holds it: each Service port's frontends and endpoints.
    public func listing() throws -> [ServiceListing] {
        []
    }
}

/// One Service port as the kernel serves it (what `weftctl services ls` prints).
public struct ServiceListing: Hashable, Sendable, Codable {
    /// "namespace/name:port" (ServicePortPlan.id) and the protocol, lowercase.
    public var service: String
    public var transport: String
    /// "address:port" texts ("[v6]:port" for IPv6), as the dispatch maps hold them.
    public var frontends: [String]
    public var endpoints: [String]

    public init(service: String, transport: String, frontends: [String], endpoints: [String]) {
        self.service = service; self.transport = transport; self.frontends = frontends; self.endpoints = endpoints
    }
}
