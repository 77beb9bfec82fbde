import WeftAddress
import WeftNetlink
import WeftNftables
import WeftSystem

/// The Services table in one network namespace: written as the diff of what changed (partial images from
/// ServiceImageState, or whole images), the first time keeping the affinity the kernel learned; stale
/// UDP flows deleted, kube-proxy's rules detected, the table read back for `weftctl services ls`.
public final class ServiceTable {
    public let handle: NetlinkHandle
    private var written: NftTableImage?
    /// Whether the kernel holds what this object wrote last (false before the first write and after a
    /// refused one); `written` is nil after a partial write.
    private var held = false
    private let client: NftClient
    /// What the kernel's table served before this object's first write: a previous weftd's Services
    /// (ServiceFlows.vanished), empty when there was no table. Nil until the first write.
    public private(set) var inherited: [ServiceListing]?
    /// Why the last write was not the write it was meant to be (a partial diff or an adoption the kernel
    /// refused), until taken; the agent logs and counts it.
    var fallback: String?

    private func note(_ why: String) { fallback = fallback.map { "\($0); \(why)" } ?? why }

    public func takeFallback() -> String? {
        defer { fallback = nil }
        return fallback
    }

    public init(handle: NetlinkHandle) {
        self.handle = handle
        client = NftClient(handle: handle)
    }

    /// Makes the kernel's table `image` (the diff from what this object wrote last; the whole table the
    /// first time, or when the kernel refused the diff because the table changed behind our back).
    /// Returns the number of netlink messages sent.
    @discardableResult
    public func write(_ image: NftTableImage) throws -> Int {
        if inherited == nil { inherited = inheritedListing() }
        let before = client.sent.messages
        held = false
        try client.update(from: written, to: image)
        written = image
        held = true
        return client.sent.messages - before
    }

    /// Makes the kernel's table change from `before` to `after`, partial images of the part that changed
    /// (ServiceImageState.Change), when the kernel holds what this object wrote last; else (the first
    /// write, after a refused one, or a diff the kernel refuses because the table changed behind our
    /// back) writes `whole()`, the whole table. Returns the number of netlink messages sent.
    @discardableResult
    public func write(before: NftTableImage, after: NftTableImage, whole: () -> NftTableImage) throws -> Int {
        if inherited == nil { inherited = inheritedListing() }
        let start = client.sent.messages
        if held {
            held = false
            // A refused diff changed nothing (a transaction is all or nothing): the whole table follows.
            do {
                if try client.applyDiff(from: before, to: after) {
                    written = nil
                    held = true
                    return client.sent.messages - start
                }
            } catch {
                note("the kernel refused a partial diff (\(error)): the whole table written")
            }
        }
        let image = whole()
        // From what this object wrote last, a diff; else (nothing of ours to diff from: a start, or after
        // partial writes; or a diff the kernel refused) the table is made whole keeping the affinity sets
        // it still wants, as kube-proxy never flushes them; a table the kernel will not take that way is
        // replaced.
        var made = false
        if let written {
            do {
                made = try client.applyDiff(from: written, to: image)
            } catch {
                note("the kernel refused a diff from the last whole table (\(error)): the table adopted")
            }
        }
        if !made {
            do {
                try client.adopt(image)
            } catch {
                note("the kernel refused to adopt the table (\(error)): replaced whole, ClientIP affinity lost")
                try client.replace(image)
            }
        }
        written = image
        held = true
        return client.sent.messages - start
    }

    /// Deletes conntrack's entries of these flows (UDP, to the frontend and port, answered by the gone
    /// endpoint); returns how many were deleted.
    public func deleteStale(_ flows: [StaleFlow]) throws -> Int {
        guard !flows.isEmpty else { return 0 }
        let udp = Set(flows.map { Conntrack.UDPFlow(destination: $0.frontend, port: $0.port, replySource: $0.endpoint) })
        return try Conntrack(handle: handle).deleteUDP(flows: udp)
    }

    /// What of kube-proxy is on this node (its nftables tables, the KUBE-SERVICES chains of iptables-nft
    /// and of legacy iptables), each named as an operator would remove it; empty when none. Legacy
    /// iptables (x_tables, kube-proxy 1.20's default on Debian) is read in `namespace`, the handle's:
    /// nil for the calling thread's.
    public static func kubeProxyRules(handle: NetlinkHandle, namespace: NetworkNamespace? = nil) throws -> [String] {
        let found = try nftablesKubeProxyRules(handle: handle)
        // x_tables answers for the namespace of the socket asked, opened where the thread is.
        if let namespace, !namespace.isCurrentThreadNamespace { return try found + namespace.run(legacyKubeProxyRules) }
        return try found + legacyKubeProxyRules()
    }

    /// kube-proxy's KUBE-SERVICES chain in legacy iptables' nat tables of the calling thread's namespace.
    static func legacyKubeProxyRules() throws -> [String] {
        var found: [String] = []
        for family in [IPAddress.Family.v4, .v6] {
            guard let chains = try XtablesTable.userChains(table: "nat", family: family), chains.contains("KUBE-SERVICES") else { continue }
            let tool = family == .v4 ? "iptables" : "ip6tables"
            found.append(
                "chain KUBE-SERVICES in legacy iptables' \(family == .v4 ? "ip" : "ip6") nat (kube-proxy --proxy-mode=iptables, iptables-legacy): "
                    + "stop kube-proxy, then `kube-proxy --cleanup` or `\(tool)-legacy-save | grep -v KUBE | \(tool)-legacy-restore`")
        }
        return found
    }

    static func nftablesKubeProxyRules(handle: NetlinkHandle) throws -> [String] {
        let client = NftClient(handle: handle)
        var found: [String] = []
        for table in try client.tables() {
            let spelled = "\(table.familyName) \(table.name)"
            if table.name == "kube-proxy", table.familyName == "ip" || table.familyName == "ip6" {
                found.append("nftables table \(spelled) (kube-proxy --proxy-mode=nftables): stop kube-proxy, then `nft delete table \(spelled)`")
            } else if table.name == "nat", table.familyName == "ip" || table.familyName == "ip6",
                try client.chains(table: table).contains("KUBE-SERVICES")
            {
                let tool = table.familyName == "ip" ? "iptables" : "ip6tables"
                found.append(
                    "chain KUBE-SERVICES in \(spelled) (kube-proxy --proxy-mode=iptables, iptables-nft): stop kube-proxy, then `kube-proxy --cleanup` or `\(tool)-save | grep -v KUBE | \(tool)-restore`"
                )
            }
        }
        return found
    }

    /// The table found before the first write. A table that cannot be read (none, or one of another
    /// layout) gives nothing: its Services' flows then time out as they did before this sweep existed.
    private func inheritedListing() -> [ServiceListing] {
        (try? listing()) ?? []
    }

    /// The table as the kernel holds it: each Service port's frontends and endpoints.
    public func listing() throws -> [ServiceListing] {
        try ServiceListingReader(client: client).read()
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
