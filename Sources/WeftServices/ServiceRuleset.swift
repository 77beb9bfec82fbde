import WeftAddress
import WeftNftables

/// Service plans compiled into one nftables table (kube-proxy's nftables design, KEP-3866): dispatch
/// verdict maps keyed by address . protocol . port, one chain per Service port and per endpoint.
///
/// Per Service port (a plan with a ClusterIP; headless ones get nothing):
/// - `service-…`: traffic from outside the cluster's pod networks is marked for masquerade, then the
///   endpoint is chosen (ClientIP affinity first, then `numgen random mod N vmap { i : goto endpoint-… }`);
/// - `external-…` (externalTrafficPolicy Local only): pods go to `service-…`, the rest to this node's
///   endpoints with their source kept, or are dropped when the node has none;
/// - `firewall-…` (loadBalancerSourceRanges): the allowed sources return, the rest are dropped;
/// - `endpoint-…`: a connection from the endpoint to itself is marked (hairpin), the affinity set updated,
///   then DNAT to the endpoint.
/// Without endpoints the frontends are in `no-endpoint-*` maps instead, whose connections are rejected.
public enum ServiceRuleset {
    /// The table weftd --services owns; nothing else writes it.
    public static let table = "weft-services"

    /// The whole table for these plans on this node. Pure: the same plans give the same image, in any order.
    ///
    /// A frontend is one Service's: every ClusterIP is claimed before any external or load-balancer
    /// address, so no Service can take another's ClusterIP (the cluster DNS's, say) through its
    /// `externalIPs`, nor make it reject from the no-endpoint maps; external and load-balancer addresses
    /// that are the node's own, loopback, link-local, unspecified or multicast are never frontends. Two
    /// external addresses claimed by two Services: the first in order keeps it.
    public static func image(_ plans: [ServicePortPlan], node: ServiceNode) -> NftTableImage {
        var builder = ServiceImageBuilder(node: node)
        let served = plans.sorted(by: ServiceImageBuilder.order).filter { $0.clusterIP != nil }
        for plan in served { builder.claimClusterIP(plan) }
        for plan in served { builder.add(plan) }
        return builder.image()
    }
}

/// Accumulates the table's chains, sets, elements and rules plan by plan.
struct ServiceImageBuilder {
    let node: ServiceNode
    var chains: [String] = ServiceLayout.sharedChains
    var sets: [NftSet] = []
    var rules: [NftRule] = ServiceLayout.sharedRules()
    /// Elements by set and key: the first plan (in order) to claim a key keeps it.
    var elements: [String: [[UInt8]: NftSetElement]] = [:]
    /// Frontend keys (address . protocol . port) by the Service port that holds them: ClusterIPs first,
    /// then external addresses; one owner each across the serving and the no-endpoint maps.
    var frontendOwners: [[UInt8]: String] = [:]
    /// The ClusterIPs' keys: never an external address's.
    var clusterIPKeys: Set<[UInt8]> = []

    /// `shared`: with the table's fixed chains, rules, maps and node addresses (a whole image); without,
    /// one plan's fragment (ServiceFragment).
    init(node: ServiceNode, shared: Bool = true) {
        self.node = node
        guard shared else {
            chains = []
            rules = []
            return
        }
        for family in [IPAddress.Family.v4, .v6] {
            let layout = ServiceLayout.Family(family: family)
            sets += layout.sets
            for address in node.nodePortAddresses where address.family == family && !Self.isLoopback(address) {
                put(layout.nodePortIPs, NftSetElement(key: address.bytes))
            }
        }
    }

    static func order(_ a: ServicePortPlan, _ b: ServicePortPlan) -> Bool {
        (a.family == .v4 ? 0 : 1, a.namespace, a.name, a.portName, a.transport.rawValue, a.port)
            < (b.family == .v4 ? 0 : 1, b.namespace, b.name, b.portName, b.transport.rawValue, b.port)
    }

    /// 127.0.0.0/8 and ::1: NodePorts are never served there (CVE-2020-8558's class).
    static func isLoopback(_ address: IPAddress) -> Bool { address.isIPv4 ? address.bytes[0] == 127 : address == IPAddress("::1") }

    mutating func put(_ set: String, _ element: NftSetElement) {
        if elements[set, default: [:]][element.key] == nil { elements[set, default: [:]][element.key] = element }
    }

    func image() -> NftTableImage {
        var image = NftTableImage(name: ServiceRuleset.table)
        image.baseChains = ServiceLayout.baseChains
        image.regularChains = chains
        image.sets = sets
        image.elements = elements.mapValues { $0.values.sorted { $0.key.lexicographicallyPrecedes($1.key) } }
        image.rules = rules
        return image
    }

    mutating func claimClusterIP(_ plan: ServicePortPlan) {
        guard let clusterIP = plan.clusterIP else { return }
        let key = ServiceLayout.Family.key(clusterIP, plan.transport, plan.port)
        clusterIPKeys.insert(key)
        if frontendOwners[key] == nil { frontendOwners[key] = plan.id }
    }

    /// An external or load-balancer address this node may serve: not a ClusterIP's key, not one of the
    /// node's own addresses nor the API server's, not loopback, link-local, unspecified or multicast.
    func servableExternal(_ address: IPAddress, _ plan: ServicePortPlan) -> Bool {
        ServiceAddresses.isServable(address) && !node.nodePortAddresses.contains(address) && !node.protectedAddresses.contains(address)
            && !clusterIPKeys.contains(ServiceLayout.Family.key(address, plan.transport, plan.port))
    }

    mutating func add(_ plan: ServicePortPlan) {
        guard let clusterIP = plan.clusterIP else { return }
        let layout = ServiceLayout.Family(family: plan.family), names = ServicePortNames(plan), comment = plan.id
        let external = (plan.externalIPs.filter { $0.family == plan.family } + plan.loadBalancerIPs.filter { $0.family == plan.family })
            .filter { servableExternal($0, plan) }
        func frontend(_ set: String, _ address: IPAddress, _ verdict: NftVerdict) {
            let key = ServiceLayout.Family.key(address, plan.transport, plan.port)
            // One owner per key across the serving and no-endpoint maps: the ClusterIP's, else the first claim.
            if let owner = frontendOwners[key], owner != plan.id { return }
            frontendOwners[key] = plan.id
            put(set, NftSetElement(key: key, verdict: verdict, comment: comment))
        }
        func nodePort(_ set: String, _ verdict: NftVerdict) {
            guard let port = plan.nodePort else { return }
            put(set, NftSetElement(key: ServiceLayout.Family.portKey(plan.transport, port), verdict: verdict, comment: comment))
        }
        guard !plan.endpoints.isEmpty else {
            let reject = NftVerdict.goto(ServiceLayout.rejectServices)
            for address in [clusterIP] + external { frontend(layout.noEndpointServices, address, reject) }
            nodePort(layout.noEndpointNodePorts, reject)
            return
        }
        let endpoints = plan.endpoints.sorted(), local = endpoints.filter(\.isLocal)
        let clusterEndpoints = plan.internalTrafficLocal ? local : endpoints
        var used = clusterEndpoints

        chains.append(names.service)
        rules += masqueradeFromOutside(plan.family, chain: names.service)
        rules += dispatch(plan, names, clusterEndpoints, chain: names.service)

        var externalTarget = names.service
        if !plan.externalTrafficLocal, plan.nodePort != nil || !external.isEmpty {
            // Cluster policy: NodePort, external and load-balancer traffic may go to an endpoint on
            // another node, whose reply must come back through this one: always masqueraded, pods too
            // (as kube-proxy does).
            externalTarget = names.external
            chains.append(names.external)
            rules.append(NftRule(chain: names.external, expressions: [.verdict(.jump(ServiceLayout.markForMasquerade))]))
            rules.append(NftRule(chain: names.external, expressions: [.verdict(.goto(names.service))]))
        }
        if plan.externalTrafficLocal, plan.nodePort != nil || !external.isEmpty {
            externalTarget = names.external
            chains.append(names.external)
            // Pods keep the cluster policy; everyone else reaches this node's endpoints with its address kept.
            for network in node.clusterCIDRs where network.family == plan.family {
                rules.append(
                    NftRule(
                        chain: names.external,
                        expressions: NftMatch.network(network, source: true, register: .r(0)) + [.verdict(.goto(names.service))]))
            }
            rules += dispatch(plan, names, local, chain: names.external)
            used += local
        }

        frontend(layout.serviceIPs, clusterIP, .goto(names.service))
        for address in external { frontend(layout.serviceIPs, address, .goto(externalTarget)) }
        nodePort(layout.nodePorts, .goto(externalTarget))

        let balancers = plan.loadBalancerIPs.filter { $0.family == plan.family && servableExternal($0, plan) }
        let ranges = plan.loadBalancerSourceRanges.filter { $0.family == plan.family }
        if !balancers.isEmpty, !ranges.isEmpty {
            chains.append(names.firewall)
            for range in ranges {
                rules.append(NftRule(chain: names.firewall, expressions: NftMatch.network(range, source: true, register: .r(0)) + [.verdict(.return)]))
            }
            rules.append(NftRule(chain: names.firewall, expressions: [.verdict(.drop)]))
            // A jump: the chain's return goes on with the no-endpoint check.
            for address in balancers { frontend(layout.firewallIPs, address, .jump(names.firewall)) }
        }

        var seen = Set<EndpointPlan>()
        for endpoint in used where seen.insert(endpoint).inserted { addEndpoint(plan, names, endpoint) }
    }

    /// Traffic from outside every pod network of the family is marked for masquerade, so the reply
    /// comes back through this node; with no pod network known, nothing is.
    func masqueradeFromOutside(_ family: IPAddress.Family, chain: String) -> [NftRule] {
        let networks = node.clusterCIDRs.filter { $0.family == family }
        guard !networks.isEmpty else { return [] }
        let outside = networks.flatMap { NftMatch.network($0, source: true, register: .r(0), negate: true) }
        return [NftRule(chain: chain, expressions: NftMatch.family(family, register: .r(0)) + outside + [.verdict(.jump(ServiceLayout.markForMasquerade))])]
    }

    /// ClientIP affinity first (the endpoint this source used last, while its element lives), then a
    /// random endpoint; none: dropped.
    func dispatch(_ plan: ServicePortPlan, _ names: ServicePortNames, _ endpoints: [EndpointPlan], chain: String) -> [NftRule] {
        guard !endpoints.isEmpty else { return [NftRule(chain: chain, expressions: [.verdict(.drop)])] }
        var result: [NftRule] = []
        if plan.affinitySeconds != nil {
            for endpoint in endpoints {
                result.append(
                    NftRule(
                        chain: chain,
                        expressions: NftMatch.family(plan.family, register: .r(0)) + NftMatch.loadAddress(plan.family, source: true, into: .r(0)) + [
                            .lookup(set: names.affinity(endpoint), key: .r(0), into: nil), .verdict(.goto(names.endpoint(endpoint))),
                        ]))
            }
        }
        if endpoints.count == 1 {
            result.append(NftRule(chain: chain, expressions: [.verdict(.goto(names.endpoint(endpoints[0])))]))
        } else {
            let choices = endpoints.enumerated().map { index, endpoint in
                NftSetElement(key: NftMatch.hostOrder(UInt32(index)), verdict: .goto(names.endpoint(endpoint)))
            }
            result.append(
                NftRule(
                    chain: chain,
                    expressions: [
                        .numgenRandom(modulus: UInt32(endpoints.count), into: .r(0)),
                        .anonymousVerdictMap(key: .r(0), keyType: NftDatatype.integer, keyLength: 4, elements: choices),
                    ]))
        }
        return result
    }

    mutating func addEndpoint(_ plan: ServicePortPlan, _ names: ServicePortNames, _ endpoint: EndpointPlan) {
        let chain = names.endpoint(endpoint), family = plan.family, words: UInt32 = family == .v4 ? 1 : 4
        chains.append(chain)
        let source = NftMatch.family(family, register: .r(0)) + NftMatch.loadAddress(family, source: true, into: .r(0))
        // Hairpin: the endpoint reaching itself through the Service must see the reply come from the
        // Service's address, so its source is masqueraded to the node.
        rules.append(NftRule(chain: chain, expressions: source + [.cmp(.eq, .r(0), endpoint.address.bytes), .verdict(.jump(ServiceLayout.markForMasquerade))]))
        if let seconds = plan.affinitySeconds {
            let set = names.affinity(endpoint)
            sets.append(
                NftSet(dynamicName: set, keyLength: words * 4, keyType: NftDatatype.address(family), timeoutMilliseconds: UInt64(seconds) * 1000))
            rules.append(NftRule(chain: chain, expressions: source + [.dynsetUpdate(set: set, key: .r(0))]))
        }
        rules.append(
            NftRule(
                chain: chain,
                expressions: [
                    .meta(.l4proto, into: .r(0)), .cmp(.eq, .r(0), [plan.transport.rawValue]),
                    .immediate(.r(0), endpoint.address.bytes), .immediate(.r(words), NftMatch.port(endpoint.port)),
                    .dnatToPort(family: family, address: .r(0), port: .r(words)),
                ]))
    }
}
