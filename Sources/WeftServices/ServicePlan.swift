import WeftAddress

/// What the datapath serves, as values: one `ServicePortPlan` per port of a Service and per address
/// family, with the endpoints that serve it. Nothing of the API is left here (ServicePlanner turns
/// Services and EndpointSlices into plans); ServiceRuleset turns plans into one nftables table image.

/// One port of one Service in one address family.
public struct ServicePortPlan: Hashable, Sendable {
    /// The Service's namespace and name, and the port's name ("" for an unnamed port).
    public var namespace: String
    public var name: String
    public var portName: String
    public var transport: TransportProtocol
    public var family: IPAddress.Family
    /// The Service's ClusterIP of this family; nil for a headless Service (which gets no rules).
    public var clusterIP: IPAddress?
    public var port: UInt16
    /// Served on the node's own addresses (ServiceNode.nodePortAddresses), never on loopback.
    public var nodePort: UInt16?
    public var externalIPs: [IPAddress]
    /// `status.loadBalancer.ingress[].ip` of this family: reached from inside the cluster too.
    public var loadBalancerIPs: [IPAddress]
    /// `spec.loadBalancerSourceRanges` of this family: when not empty, only these sources reach the
    /// load-balancer addresses (the rest are dropped).
    public var loadBalancerSourceRanges: [IPNetwork]
    /// `sessionAffinity: ClientIP`: the affinity's timeout in seconds (the API's default is 10,800).
    public var affinitySeconds: UInt32?
    /// `externalTrafficPolicy: Local`: NodePort, external and load-balancer traffic goes to this node's
    /// endpoints only, its source address kept; with none, it is dropped.
    public var externalTrafficLocal: Bool
    /// `internalTrafficPolicy: Local` (the API has it from 1.21): ClusterIP traffic to this node's
    /// endpoints only.
    public var internalTrafficLocal: Bool
    /// Answered on the node when externalTrafficLocal (kube-proxy's health check server).
    public var healthCheckNodePort: UInt16?
    /// Ready endpoints, sorted (the order picks each one's numgen slot, so it must be stable).
    public var endpoints: [EndpointPlan]

    public init(
        namespace: String, name: String, portName: String = "", transport: TransportProtocol = .tcp, family: IPAddress.Family = .v4,
        clusterIP: IPAddress?, port: UInt16, nodePort: UInt16? = nil, externalIPs: [IPAddress] = [], loadBalancerIPs: [IPAddress] = [],
        loadBalancerSourceRanges: [IPNetwork] = [], affinitySeconds: UInt32? = nil, externalTrafficLocal: Bool = false,
        internalTrafficLocal: Bool = false, healthCheckNodePort: UInt16? = nil, endpoints: [EndpointPlan] = []
    ) {
        self.namespace = namespace; self.name = name; self.portName = portName; self.transport = transport; self.family = family
        self.clusterIP = clusterIP; self.port = port; self.nodePort = nodePort; self.externalIPs = externalIPs
        self.loadBalancerIPs = loadBalancerIPs; self.loadBalancerSourceRanges = loadBalancerSourceRanges
        self.affinitySeconds = affinitySeconds; self.externalTrafficLocal = externalTrafficLocal
        self.internalTrafficLocal = internalTrafficLocal; self.healthCheckNodePort = healthCheckNodePort; self.endpoints = endpoints
    }

    /// "namespace/name:port" (kube-proxy's ServicePortName), or "namespace/name" for an unnamed port.
    public var id: String { portName.isEmpty ? "\(namespace)/\(name)" : "\(namespace)/\(name):\(portName)" }
}

/// One endpoint of a Service port: the address and target port traffic is DNATed to.
public struct EndpointPlan: Hashable, Comparable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    /// On this node (the EndpointSlice's nodeName is this node's): what Local traffic policies keep.
    public var isLocal: Bool

    public init(address: IPAddress, port: UInt16, isLocal: Bool = false) {
        self.address = address; self.port = port; self.isLocal = isLocal
    }

    public static func < (lhs: EndpointPlan, rhs: EndpointPlan) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}

/// What the rules need to know of the node.
public struct ServiceNode: Hashable, Sendable {
    /// The node's own addresses NodePorts are served on (never loopback: CVE-2020-8558's class).
    public var nodePortAddresses: [IPAddress]
    /// The cluster's pod networks: traffic from outside them to a Service is masqueraded (unless Local
    /// keeps its source), as kube-proxy's `--cluster-cidr`.
    public var clusterCIDRs: [IPNetwork]
    /// Addresses no Service may take as an external or load-balancer frontend: the API server's, so no
    /// Service captures weftd's own connection to it (its DNAT at output would catch weftd too).
    public var protectedAddresses: [IPAddress] = []

    public init(nodePortAddresses: [IPAddress], clusterCIDRs: [IPNetwork]) {
        self.nodePortAddresses = nodePortAddresses; self.clusterCIDRs = clusterCIDRs
    }
}
