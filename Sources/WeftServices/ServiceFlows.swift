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
    /// Compared per frontend (address . port, as conntrack's original destination holds it), over all
    /// plans: a frontend that moved to another plan (a port renamed) keeps the endpoints it still reaches.
    /// Endpoints are compared by address, the entry's reply source, which is what the deletion matches.
    public static func stale(from old: [ServicePortPlan], to new: [ServicePortPlan], node: ServiceNode) -> [StaleFlow] {
        let before = served(old, node: node), after = served(new, node: node)
        var flows: [StaleFlow] = []
        for (frontend, endpoints) in before {
            for endpoint in endpoints.subtracting(after[frontend] ?? []) {
                flows.append(StaleFlow(frontend: frontend.address, port: frontend.port, endpoint: endpoint))
            }
        }
        return flows.sorted { ($0.frontend, $0.port, $0.endpoint) < ($1.frontend, $1.port, $1.endpoint) }
    }

    /// What conntrack holds that no rule would send there any more, for the first table a weftd writes:
    /// its predecessor's last plans are gone with it, so endpoints removed while no weftd ran (an
    /// upgrade, a crash) would keep their UDP flows until they time out. `flows` are conntrack's UDP
    /// entries as (original destination, reply source); a stray is one to a UDP frontend of `plans` whose
    /// reply source is neither one of that frontend's endpoints nor the frontend itself (a flow nothing
    /// translated: a server on the node's own address).
    public static func strays(_ flows: [StaleFlow], plans: [ServicePortPlan], node: ServiceNode) -> [StaleFlow] {
        let served = served(plans, node: node)
        let strays = flows.filter { flow in
            guard let endpoints = served[Frontend(address: flow.frontend, port: flow.port)] else { return false }
            return flow.endpoint != flow.frontend && !endpoints.contains(flow.endpoint)
        }
        return Array(Set(strays)).sorted { ($0.frontend, $0.port, $0.endpoint) < ($1.frontend, $1.port, $1.endpoint) }
    }

    /// For the first table a weftd writes: conntrack's UDP flows to frontends that the table it found
    /// (`inherited`, a previous weftd's, read back before the write) served over UDP and `plans` no longer
    /// serve: Services deleted, or their ports changed, while no weftd ran. `strays` cannot see these, as
    /// no plan names their frontends. Only frontends of weft's own table count, so no other program's flows
    /// are touched; an untranslated flow (reply source = frontend: a server on that address) is left.
    public static func vanished(
        _ flows: [StaleFlow], inherited: [ServiceListing], plans: [ServicePortPlan], node: ServiceNode
    ) -> [StaleFlow] {
        let planned = served(plans, node: node)
        let gone = Set(inherited.filter { $0.transport == "udp" }.flatMap(\.frontends).compactMap(frontend)).filter { planned[$0] == nil }
        let vanished = flows.filter { gone.contains(Frontend(address: $0.frontend, port: $0.port)) && $0.endpoint != $0.frontend }
        return Array(Set(vanished)).sorted { ($0.frontend, $0.port, $0.endpoint) < ($1.frontend, $1.port, $1.endpoint) }
    }

    /// A listing's frontend, "address:port" or "[v6]:port".
    static func frontend(_ text: String) -> Frontend? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        let host = text[..<colon].trimmingPrefix("[")
        guard let address = IPAddress(String(host.hasSuffix("]") ? host.dropLast() : host)) else { return nil }
        return Frontend(address: address, port: port)
    }

    /// `stale` for a change of some Services only: from their plans at the last write (`old`) to their
    /// plans now (`new`, both by Service key), a flow kept when another Service still sends that frontend
    /// to that endpoint (`state` holds every Service's plans now). Costs what changed.
    public static func stale(from old: [String: [ServicePortPlan]], to new: [String: [ServicePortPlan]], state: ServiceImageState) -> [StaleFlow] {
        let changed = Set(old.keys).union(new.keys)
        let flows = stale(from: old.values.flatMap { $0 }, to: new.values.flatMap { $0 }, node: state.node)
        return flows.filter { flow in
            let others = state.plans(servingUDP: flow.frontend, port: flow.port, except: changed)
            guard !others.isEmpty else { return true }
            return !(served(others, node: state.node)[Frontend(address: flow.frontend, port: flow.port)] ?? []).contains(flow.endpoint)
        }
    }

    /// A UDP plan's frontends: its ClusterIP, external and load-balancer addresses at its port, and the
    /// node's addresses of its family at its nodePort.
    static func frontends(_ plan: ServicePortPlan, node: ServiceNode) -> [Frontend] {
        var result = (plan.clusterIP.map { [$0] } ?? []).map { Frontend(address: $0, port: plan.port) }
        result += (plan.externalIPs + plan.loadBalancerIPs).map { Frontend(address: $0, port: plan.port) }
        if let nodePort = plan.nodePort {
            result += node.nodePortAddresses.filter { $0.family == plan.family }.map { Frontend(address: $0, port: nodePort) }
        }
        return result
    }

    struct Frontend: Hashable {
        var address: IPAddress
        var port: UInt16
    }

    /// Each UDP frontend of the plans and the endpoint addresses it sends to: the ClusterIP (this node's
    /// endpoints only with internalTrafficLocal), external and load-balancer addresses and the node's
    /// addresses at the nodePort (this node's only with externalTrafficLocal).
    static func served(_ plans: [ServicePortPlan], node: ServiceNode) -> [Frontend: Set<IPAddress>] {
        var served: [Frontend: Set<IPAddress>] = [:]
        for plan in plans where plan.transport == .udp {
            let all = Set(plan.endpoints.map(\.address))
            let local = Set(plan.endpoints.filter(\.isLocal).map(\.address))
            if let clusterIP = plan.clusterIP {
                served[Frontend(address: clusterIP, port: plan.port), default: []].formUnion(plan.internalTrafficLocal ? local : all)
            }
            let external = plan.externalTrafficLocal ? local : all
            for address in plan.externalIPs + plan.loadBalancerIPs {
                served[Frontend(address: address, port: plan.port), default: []].formUnion(external)
            }
            if let nodePort = plan.nodePort {
                for address in node.nodePortAddresses where address.family == plan.family {
                    served[Frontend(address: address, port: nodePort), default: []].formUnion(external)
                }
            }
        }
        return served
    }
}
