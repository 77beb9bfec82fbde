import WeftAddress

/// A UDP flow conntrack may still send to an endpoint that no longer serves its frontend: UDP has no
/// close, so until the entry times out the client's packets keep reaching the gone endpoint (the DNS
/// timeouts of a CoreDNS rollout). Deleted after the rules stop sending new flows there.
public struct StaleFlow: Hashable, Sendable {
    /// The address and port the client sent to: a ClusterIP, external, load-balancer or node address.
    public var frontend: IPAddress
    public var port: UInt16
    /// The endpoint that was removed (the entry's reply source).
    public var endpoint: IPAddress

    public init(frontend: IPAddress, port: UInt16, endpoint: IPAddress) {
        self.frontend = frontend; self.port = port; self.endpoint = endpoint
    }
}

public enum ServiceFlows {
    /// The UDP flows to delete once `new` is in the kernel: for each UDP frontend of `old`, the endpoints
    /// `new` no longer sends it to. Nothing else (a TCP flow ends by itself; an endpoint kept keeps its flows).
    public static func stale(from old: [ServicePortPlan], to new: [ServicePortPlan], node: ServiceNode) -> [StaleFlow] {
        []
    }
}
