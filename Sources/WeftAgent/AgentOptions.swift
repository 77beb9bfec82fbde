import WeftAddress
import WeftEtcd

/// How one weftd runs: where its engine is, which link carries the fabric, where it writes.
public struct AgentOptions: Sendable {
    public var etcdEndpoints: [String]
    /// flannel's default etcd prefix.
    public var etcdPrefix = "/coreos.com/network"
    /// TLS, client certificate, user and password for etcd, and whether plain HTTP may leave this machine.
    public var etcdSecurity = EtcdSecurity()
    /// Lease TTL in whole seconds (flannel's default is 24h).
    public var leaseTTL = 24 * 3600
    /// The underlay link; nil picks the default route's.
    public var interface: String?
    /// The address other nodes reach this one by; nil takes the link's first IPv4 address.
    public var publicIP: IPAddress?
    /// On a dual-stack network, the IPv6 address other nodes reach this one by; nil takes the link's first global one.
    public var publicIPv6: IPAddress?
    /// The vxlan devices' transmit checksum offload (`--vxlan-tx-checksum-offload`): off before Linux 5.7 by default.
    public var vxlanTxChecksumOffload = TxChecksumOffload.auto
    public var subnetFile = "/run/flannel/subnet.env"
    public var stateFile = AgentStatus.defaultPath
    /// Where /healthz and /metrics are served; nil serves nothing.
    public var metricsHost: String? = "127.0.0.1"
    public var metricsPort = 9410

    /// How long the lease watch may stay broken (etcd or the API unreachable, every list or resumed
    /// watch failing) before /healthz fails: 60 s, NetworkPolicy's bound (PolicyHealth.brokenBound).
    /// Routes stay meanwhile; a node that joined or left in that time is missed until the watch is back.
    public var watchBrokenBound: Double = 60

    public init(etcdEndpoints: [String]) { self.etcdEndpoints = etcdEndpoints }

    /// How often the lease is renewed: a third of its TTL, so two renewals may fail before it
    /// expires; at most hourly for long TTLs, and at least every second.
    public var keepAliveSeconds: Double { min(max(Double(leaseTTL) / 3, 1), 3600) }
    /// How long one renewal may take: half the interval (so a hung request leaves time to retry),
    /// at least 1 s, at most 10 s.
    public var renewalTimeoutSeconds: Double { min(max(keepAliveSeconds / 2, 1), 10) }
    /// After a failed renewal the next try comes after a fifteenth of the TTL (0.2 s to 30 s): with
    /// the TTL/3 interval, several attempts fit before the lease can expire.
    public var renewalRetrySeconds: Double { min(max(Double(leaseTTL) / 15, 0.2), 30) }
    /// Where subnet.env goes when the lease is lost (Agent.loseLease).
    public var lostSubnetFile: String { subnetFile + ".lost" }

    /// Parses `--metrics-address`: "host:port", ":port", or "" / "off" for none.
    public static func address(_ text: String) throws -> (host: String, port: Int)? {
        if text.isEmpty || text == "off" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw AgentError(.invalidConfig, "--metrics-address \(text) is not host:port")
        }
        let host = String(text[..<colon]).trimmingBrackets
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }
}
