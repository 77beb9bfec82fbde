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
    public var lastReconcileAt: Date?
    public var reconcileErrors: Int
    public var lastError: String?
    public var updatedAt: Date

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public func write(to path: String) throws {
        let data = try Self.encoder().encode(self)
        try SubnetFile.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: path)
    }

    public static func read(from path: String) throws -> AgentStatus {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw AgentError(.file, "cannot read \(path) (is weftd running?): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(AgentStatus.self, from: data) } catch {
            throw AgentError(.file, "\(path) is not weftd's state: \(error)")
        }
    }

    /// Healthy while the lease is held (not expired), renewals succeed and the watch runs: the node's
    /// routes follow the cluster.
    public func health(now: Date = Date()) -> (healthy: Bool, reason: String) {
        if let expiry = leaseExpiresAt, expiry < now { return (false, "lease expired at \(expiry)") }
        if !watching { return (false, "not watching the subnet engine" + (lastError.map { ": \($0)" } ?? "")) }
        if let renewalFailure { return (false, "lease renewal failing: \(renewalFailure)") }
        return (true, "ok")
    }

    /// The human-readable form `weftd status` prints.
    public var summary: String {
        var lines = [
            "lease:    \(subnet) (network \(network), \(backend)) via \(engine)",
            "node:     \(publicIP) on \(underlay)" + (device.map { ", device \($0)" } ?? "") + (vtepMAC.map { " mac \($0)" } ?? "") + ", mtu \(mtu)",
            "ttl:      \(GoDuration.text(seconds: leaseTTLSeconds)), lease \(leaseID)"
                + (leaseExpiresAt.map { ", expires \(ISO8601DateFormatter().string(from: $0))" } ?? ""),
            "health:   \(health().reason); reconcile errors \(reconcileErrors)",
            "peers:    \(peers.count)",
        ]
        for peer in peers.sorted(by: { $0.subnet < $1.subnet }) {
            lines.append("  \(peer.subnet)  \(peer.publicIP)  \(peer.backendType)" + (peer.vtepMAC.map { "  \($0)" } ?? "")
                         + (peer.connected ? "" : "  (not connected)"))
        }
        return lines.joined(separator: "\n")
    }
}
