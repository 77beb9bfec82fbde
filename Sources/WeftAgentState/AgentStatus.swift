import Foundation

/// What the agent tells the node: the state file (default /run/weft/agent.json) that `weftd status`
/// (and weftctl) read, rewritten atomically after each change. Also the answer behind /healthz.
public struct AgentStatus: Codable, Equatable, Sendable {
    public struct Peer: Codable, Equatable, Sendable {
        public var subnet: String
        public var publicIP: String
        public var backendType: String
        public var vtepMAC: String?
        /// False when the peer is left out (host-gw: its PublicIP is not on the underlay's subnet).
        public var connected: Bool

        public init(subnet: String, publicIP: String, backendType: String, vtepMAC: String?, connected: Bool) {
            self.subnet = subnet; self.publicIP = publicIP; self.backendType = backendType; self.vtepMAC = vtepMAC; self.connected = connected
        }
    }

    public static let defaultPath = "/run/weft/agent.json"
    public static let formatVersion = 1

    public var version = AgentStatus.formatVersion
    public var pid: Int32
    public var engine: String
    public var backend: String
    public var network: String
    public var subnet: String
    public var publicIP: String
    /// A dual-stack node's IPv6 subnet and IPv6 address (absent on IPv4-only networks).
    public var ipv6Subnet: String?
    public var publicIPv6: String?
    public var underlay: String
    public var device: String?
    public var vtepMAC: String?
    public var mtu: Int
    public var leaseTTLSeconds: Int
    /// etcd's lease ID, in decimal as etcdctl prints it (hex: `etcdctl lease timetolive`).
    public var leaseID: String
    public var leaseExpiresAt: Date?
    public var peers: [Peer]
    public var watching: Bool
    /// Why the last lease renewal failed; absent once one succeeds.
    public var renewalFailure: String?
    /// Set when another node took this node's subnet: weftd no longer serves that subnet (no
    /// subnet.env) and stays unhealthy until an operator drains the node.
    public var leaseLost: String?
    /// Since when the lease watch has been broken, and the latest failure; absent while it works.
    public var watchBrokenSince: Date?
    public var watchBrokenBy: String?
    /// How long it may stay broken before the node is unhealthy (weftd's bound, 60 s by default).
    public var watchBrokenBoundSeconds: Double?
    public var lastReconcileAt: Date?
    public var reconcileErrors: Int
    public var lastError: String?
    public var updatedAt: Date

    public init(
        pid: Int32, engine: String, backend: String, network: String, subnet: String, publicIP: String, underlay: String,
        device: String?, vtepMAC: String?, mtu: Int, leaseTTLSeconds: Int, leaseID: String, leaseExpiresAt: Date?,
        peers: [Peer], watching: Bool, renewalFailure: String?, lastReconcileAt: Date?, reconcileErrors: Int,
        lastError: String?, updatedAt: Date
    ) {
        self.pid = pid; self.engine = engine; self.backend = backend; self.network = network; self.subnet = subnet
        self.publicIP = publicIP; self.underlay = underlay; self.device = device; self.vtepMAC = vtepMAC; self.mtu = mtu
        self.leaseTTLSeconds = leaseTTLSeconds; self.leaseID = leaseID; self.leaseExpiresAt = leaseExpiresAt; self.peers = peers
        self.watching = watching; self.renewalFailure = renewalFailure; self.lastReconcileAt = lastReconcileAt
        self.reconcileErrors = reconcileErrors; self.lastError = lastError; self.updatedAt = updatedAt
    }

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func read(from path: String) throws -> AgentStatus {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw AgentStateError(message: "cannot read \(path) (is weftd running?): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(AgentStatus.self, from: data) } catch {
            throw AgentStateError(message: "\(path) is not weftd's state: \(error)")
        }
    }

    /// Healthy while the lease is held (not expired), renewals succeed and the watch runs (or has been
    /// broken no longer than its bound): the node's routes follow the cluster. Judged when read, so a
    /// watch that stays broken turns it unhealthy without a new state, and healthy again once it works.
    public func health(now: Date = Date()) -> (healthy: Bool, reason: String) {
        if let leaseLost { return (false, "lease lost: \(leaseLost)") }
        if let expiry = leaseExpiresAt, expiry < now { return (false, "lease expired at \(expiry)") }
        if let since = watchBrokenSince {
            let broken = now.timeIntervalSince(since), bound = watchBrokenBoundSeconds ?? 60
            if broken > bound {
                return (
                    false,
                    "the lease watch has been broken for \(Int(broken)) s (bound \(Self.seconds(bound)) s)"
                        + (watchBrokenBy.map { ": \($0)" } ?? "")
                )
            }
        } else if !watching {
            return (false, "not watching the subnet engine yet" + (lastError.map { ": \($0)" } ?? ""))
        }
        if let renewalFailure { return (false, "lease renewal failing: \(renewalFailure)") }
        return (true, "ok")
    }

    /// "60" for 60.0, "0.5" for 0.5.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The human-readable form `weftd status` prints.
    public var summary: String {
        var lines = [
            "lease:    \(subnet)" + (ipv6Subnet.map { " \($0)" } ?? "") + " (network \(network), \(backend)) via \(engine)",
            "node:     \(publicIP)" + (publicIPv6.map { " \($0)" } ?? "") + " on \(underlay)" + (device.map { ", device \($0)" } ?? "")
                + (vtepMAC.map { " mac \($0)" } ?? "") + ", mtu \(mtu)",
            "ttl:      \(GoDuration.text(seconds: leaseTTLSeconds)), lease \(leaseID)"
                + (leaseExpiresAt.map { ", expires \(ISO8601DateFormatter().string(from: $0))" } ?? ""),
            "health:   \(health().reason); reconcile errors \(reconcileErrors)",
            "peers:    \(peers.count)",
        ]
        if let since = watchBrokenSince {
            lines.insert(
                "watch:    broken since \(ISO8601DateFormatter().string(from: since)) (\(Int(Date().timeIntervalSince(since))) s, "
                    + "bound \(Self.seconds(watchBrokenBoundSeconds ?? 60)) s)" + (watchBrokenBy.map { ": \($0)" } ?? ""), at: 4)
        }
        if let leaseLost {
            // Said on its own line: a node that gives no pod an address is what an operator must see first.
            lines.insert(
                "LEASE LOST: \(leaseLost); subnet.env moved aside, no pod gets an address on this node "
                    + "(drain it, remove the .lost file, restart weftd)", at: 0)
        }
        for peer in peers.sorted(by: { $0.subnet < $1.subnet }) {
            lines.append(
                "  \(peer.subnet)  \(peer.publicIP)  \(peer.backendType)" + (peer.vtepMAC.map { "  \($0)" } ?? "")
                    + (peer.connected ? "" : "  (not connected)"))
        }
        return lines.joined(separator: "\n")
    }
}

/// The state file could not be read; `message` says why.
public struct AgentStateError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
