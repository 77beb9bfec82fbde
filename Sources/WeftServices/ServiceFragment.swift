import WeftAddress
import WeftNftables

/// Where a Service port sits in the table's order (ServiceImageBuilder.order): family (IPv4 first),
/// namespace, name, port name, protocol, port. The first in this order keeps a contested key.
struct ServicePortOrder: Hashable, Comparable, Sendable {
    let family: Int
    let namespace: String
    let name: String
    let portName: String
    let transport: UInt8
    let port: UInt16

    init(_ plan: ServicePortPlan) {
        family = plan.family == .v4 ? 0 : 1
        namespace = plan.namespace; name = plan.name; portName = plan.portName; transport = plan.transport.rawValue; port = plan.port
    }

    static func < (a: Self, b: Self) -> Bool {
        (a.family, a.namespace, a.name, a.portName, a.transport, a.port) < (b.family, b.namespace, b.name, b.portName, b.transport, b.port)
    }
}

/// One Service port's part of the table: its chains, rules and affinity sets, and the elements it puts
/// in the shared maps as if it held every key it names. Which of those elements the table holds is
/// decided across Service ports (ServiceImageState): a frontend key goes to the first claimer in order
/// (ClusterIPs are never another's external address, see `candidates`), a NodePort key per map likewise.
struct ServiceFragment: Sendable {
    let plan: ServicePortPlan
    var chains: [String]
    var rules: [NftRule]
    var sets: [NftSet]
    var elements: [String: [[UInt8]: NftSetElement]]
    /// The keys of the external and load-balancer addresses the node may serve, before ClusterIPs are
    /// taken out: whether one is a ClusterIP's key (another Service's) changes this fragment.
    let candidates: [[UInt8]]

    /// `isClusterIPKey`: which of `candidates` (and the plan's own ClusterIP key) are some plan's ClusterIP key.
    init(_ plan: ServicePortPlan, node: ServiceNode, isClusterIPKey: ([UInt8]) -> Bool) {
        self.plan = plan
        let candidates = Self.candidates(plan, node: node)
        var builder = ServiceImageBuilder(node: node, shared: false)
        builder.clusterIPKeys = Set(candidates.filter(isClusterIPKey))
        builder.add(plan)
        self.candidates = candidates
        chains = builder.chains; rules = builder.rules; sets = builder.sets; elements = builder.elements
    }

    /// The external and load-balancer addresses' keys the node may serve, ClusterIPs aside
    /// (ServiceImageBuilder.servableExternal without its ClusterIP test).
    static func candidates(_ plan: ServicePortPlan, node: ServiceNode) -> [[UInt8]] {
        (plan.externalIPs + plan.loadBalancerIPs).filter {
            $0.family == plan.family && ServiceAddresses.isServable($0) && !node.nodePortAddresses.contains($0) && !node.protectedAddresses.contains($0)
        }.map { ServiceLayout.Family.key($0, plan.transport, plan.port) }
    }

    /// The maps whose keys are frontends (address . protocol . port), one owner each across them.
    static let frontendSets: Set<String> = Set(
        [IPAddress.Family.v4, .v6].flatMap { family -> [String] in
            let layout = ServiceLayout.Family(family: family)
            return [layout.serviceIPs, layout.firewallIPs, layout.noEndpointServices]
        })
    static let frontendSetList = frontendSets.sorted()
}
