import WeftAddress

/// Services and their endpoints (EndpointSlices, or Endpoints turned into slices) planned for one node:
/// one ServicePortPlan per Service port and address family, sorted by id then family (IPv4 first). Pure.
///
/// What is served, as kube-proxy 1.20 serves it:
/// - a headless Service (clusterIP "None"), an ExternalName Service, or one with no ClusterIP yet: no plan;
/// - a dual-stack Service: one plan per family of `clusterIPs` (else `clusterIP`); external, load-balancer
///   addresses and source ranges go to the plan of their family;
/// - endpoints: the slices of the port's family whose port has the Service port's name and protocol give
///   the target port (a named targetPort is resolved by the slice controller per pod, so the slice's
///   number is the one to use); only ready endpoints (a missing `ready` is ready, as the API documents;
///   1.20's kube-proxy does not serve terminating endpoints); the first address of each; deduplicated
///   across slices (isLocal if any copy is on this node); sorted;
/// - NodePort and LoadBalancer Services carry their nodePort; `sessionAffinity: ClientIP` its timeout
///   (10,800 s when not given).
///
/// What cannot be read is never served more openly than the API says, and never silently:
/// - a Service that cannot be decoded (ServiceSource.unreadable) is planned from what can be read of it
///   (its ClusterIPs and the ports with a number and a known protocol) with no endpoints, so those
///   ports reject (TCP reset, ICMP unreachable) instead of reaching stale endpoints or nothing;
/// - a Service any of whose slices cannot be decoded is planned with no endpoints (it rejects): the
///   lost slice may hold any part of its endpoints, and serving the rest would hide the fault;
/// - a value the API would refuse (an address, a port number, a protocol, an affinity timeout) drops
///   what it names: a bad address is not a frontend, a bad endpoint is not an endpoint, a port with a
///   bad number or protocol is not planned; a bad `loadBalancerSourceRanges` entry leaves the family
///   without its load-balancer addresses rather than open to every source.
/// Each is one entry of `ServicePlanning.problems`, which weftd logs and counts.
public enum ServicePlanner {
    /// The default of `sessionAffinityConfig.clientIP.timeoutSeconds`: three hours.
    public static let defaultAffinitySeconds: UInt32 = 10_800

    public static func plan(_ source: ServiceSource, nodeName: String) -> ServicePlanning {
        var planning = ServicePlanning()
        var slicesByService: [String: [EndpointSliceObject]] = [:]
        for slice in source.slices {
            guard let service = slice.serviceKey else {
                planning.problems.append(unlabeledProblem(slice))
                continue
            }
            slicesByService[service, default: []].append(slice)
        }
        var unreadableByService: [String: [String]] = [:]
        for (slice, service) in source.unreadableSlices { unreadableByService[service, default: []].append(slice) }
        for service in source.services {
            let one = plan(service, slices: slicesByService[service.key] ?? [], unreadableSlices: unreadableByService[service.key] ?? [], nodeName: nodeName)
            planning.plans += one.plans
            planning.problems += one.problems
        }
        for salvaged in source.unreadable {
            let one = plan(salvaged)
            planning.plans += one.plans
            planning.problems += one.problems
        }
        planning.plans.sort(by: Self.order)
        return planning
    }

    /// One Service's plans (unsorted) and problems: what `plan` gives of it, given its slices (those whose
    /// label names it) and the keys of its slices that cannot be read. weftd re-plans only the Services
    /// that changed with it.
    public static func plan(_ service: ServiceObject, slices: [EndpointSliceObject], unreadableSlices: [String], nodeName: String) -> ServicePlanning {
        var planning = ServicePlanning()
        var plans = plans(for: service, problems: &planning.problems)
        if unreadableSlices.isEmpty {
            for index in plans.indices {
                plans[index].endpoints = endpoints(for: plans[index], service: service, slices: slices, nodeName: nodeName, problems: &planning.problems)
            }
        } else {
            planning.problems.append(
                "Service \(service.key): EndpointSlice \(unreadableSlices.sorted().joined(separator: ", ")) cannot be read: its ports reject until it can")
        }
        planning.plans = plans
        return planning
    }

    /// A Service that cannot be decoded: its salvaged plans, which reject.
    public static func plan(_ salvaged: UnreadableService) -> ServicePlanning {
        var planning = ServicePlanning()
        planning.problems.append("Service \(salvaged.key): \(salvaged.reason): \(salvaged.plans.isEmpty ? "nothing of it served" : "its ports reject")")
        planning.plans = salvaged.plans
        return planning
    }

    /// The problem a slice with no Service label is.
    public static func unlabeledProblem(_ slice: EndpointSliceObject) -> String {
        "EndpointSlice \(slice.key): no \(EndpointSliceObject.serviceNameLabel) label: serves nothing"
    }

    /// By id, then family (IPv4 first), then protocol.
    static func order(_ lhs: ServicePortPlan, _ rhs: ServicePortPlan) -> Bool {
        if lhs.id != rhs.id { return lhs.id < rhs.id }
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return lhs.transport.rawValue < rhs.transport.rawValue
    }

    /// The Service's plans without endpoints; none for headless, ExternalName or unallocated Services.
    static func plans(for service: ServiceObject, problems: inout [String]) -> [ServicePortPlan] {
        guard let spec = service.spec, spec.type != "ExternalName" else { return [] }
        let clusterIPs = ServiceFrontends.clusterIPs(spec, key: service.key, problems: &problems)
        guard !clusterIPs.isEmpty else { return [] }
        let namespace = service.metadata.namespace ?? "default"
        let exposesNodePorts = spec.type == "NodePort" || spec.type == "LoadBalancer"
        let externalIPs = ServiceFrontends.addresses(spec.externalIPs ?? [], "spec.externalIPs", key: service.key, problems: &problems)
        let ingress = (service.status?.loadBalancer?.ingress ?? []).compactMap(\.ip)
        let loadBalancerIPs = ServiceFrontends.addresses(ingress, "status.loadBalancer.ingress[].ip", key: service.key, problems: &problems)
        let ranges = ServiceFrontends.sourceRanges(spec.loadBalancerSourceRanges ?? [], key: service.key, problems: &problems)
        var affinity: UInt32?
        if spec.sessionAffinity == "ClientIP" {
            let timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? Int(defaultAffinitySeconds)
            if (1...86_400).contains(timeout) {
                affinity = UInt32(timeout)
            } else {
                problems.append("Service \(service.key): spec.sessionAffinityConfig.clientIP.timeoutSeconds \(timeout) is not 1…86400: the default used")
                affinity = defaultAffinitySeconds
            }
        }
        let externalLocal = spec.externalTrafficPolicy == "Local"
        var plans: [ServicePortPlan] = []
        for (index, port) in (spec.ports ?? []).enumerated() {
            guard let transport = TransportProtocol(kubernetesName: port.protocol ?? "TCP") else {
                problems.append("Service \(service.key): spec.ports[\(index)].protocol \(port.protocol ?? "") is not TCP, UDP or SCTP: not served")
                continue
            }
            guard let number = ServiceFrontends.port(port.port) else {
                problems.append("Service \(service.key): spec.ports[\(index)].port \(port.port) is not 1…65535: not served")
                continue
            }
            var nodePort: UInt16?
            if exposesNodePorts, let value = port.nodePort {
                nodePort = ServiceFrontends.port(value)
                if nodePort == nil { problems.append("Service \(service.key): spec.ports[\(index)].nodePort \(value) is not 1…65535: not served") }
            }
            for clusterIP in clusterIPs {
                let family = clusterIP.family
                // A source restriction with nothing readable for this family would open the addresses to
                // everyone: the family's load-balancer addresses are left out instead.
                let familyRanges = ranges.valid.filter { $0.family == family }
                let restrictedToNothing = (ranges.invalid || !ranges.valid.isEmpty) && familyRanges.isEmpty
                plans.append(
                    ServicePortPlan(
                        namespace: namespace, name: service.metadata.name, portName: port.name ?? "", transport: transport, family: family,
                        clusterIP: clusterIP, port: number, nodePort: nodePort, externalIPs: externalIPs.filter { $0.family == family },
                        loadBalancerIPs: restrictedToNothing ? [] : loadBalancerIPs.filter { $0.family == family },
                        loadBalancerSourceRanges: familyRanges, affinitySeconds: affinity, externalTrafficLocal: externalLocal,
                        internalTrafficLocal: spec.internalTrafficPolicy == "Local",
                        healthCheckNodePort: externalLocal && spec.type == "LoadBalancer" ? spec.healthCheckNodePort.flatMap(ServiceFrontends.port) : nil))
            }
        }
        return plans
    }

    /// The ready endpoints the Service's slices give this plan's port and family, deduplicated and sorted.
    static func endpoints(
        for plan: ServicePortPlan, service: ServiceObject, slices: [EndpointSliceObject], nodeName: String, problems: inout [String]
    ) -> [EndpointPlan] {
        let addressType = plan.family == .v4 ? "IPv4" : "IPv6"
        var found: [EndpointKey: Bool] = [:]
        for slice in slices where slice.addressType == addressType {
            guard
                let slicePort = (slice.ports ?? []).first(where: {
                    ($0.name ?? "") == plan.portName && TransportProtocol(kubernetesName: $0.protocol ?? "TCP") == plan.transport
                })
            else { continue }
            guard let target = slicePort.port.flatMap(ServiceFrontends.port) else {
                // No number: the slice controller found no pod port of that name (kube-proxy skips it too).
                continue
            }
            for endpoint in slice.endpoints ?? [] {
                guard endpoint.conditions?.ready ?? true else { continue }
                guard let text = endpoint.addresses.first else { continue }
                guard let address = IPAddress(text), address.family == plan.family else {
                    problems.append("EndpointSlice \(slice.key): endpoint address \(text) is not an \(addressType) address: left out")
                    continue
                }
                guard ServiceAddresses.isServable(address) else {
                    problems.append("EndpointSlice \(slice.key): endpoint address \(text) is loopback, link-local, unspecified or multicast: left out")
                    continue
                }
                let key = EndpointKey(address: address, port: target)
                found[key] = (found[key] ?? false) || endpoint.node == nodeName
            }
        }
        return found.map { EndpointPlan(address: $0.key.address, port: $0.key.port, isLocal: $0.value) }.sorted()
    }

    struct EndpointKey: Hashable {
        var address: IPAddress
        var port: UInt16
    }
}

/// What the planner reads: the Services and slices that could be decoded, and what could not.
public struct ServiceSource: Sendable {
    public var services: [ServiceObject]
    public var slices: [EndpointSliceObject]
    /// Services that could not be decoded, with the plans salvaged from them (ServiceSalvage).
    public var unreadable: [UnreadableService]
    /// Slices that could not be decoded: slice "namespace/name" → its Service's "namespace/name".
    public var unreadableSlices: [String: String]

    public init(
        services: [ServiceObject] = [], slices: [EndpointSliceObject] = [], unreadable: [UnreadableService] = [], unreadableSlices: [String: String] = [:]
    ) {
        self.services = services; self.slices = slices; self.unreadable = unreadable; self.unreadableSlices = unreadableSlices
    }
}

/// The planner's answer: the plans, and every object or value it could not serve as the API says, in words.
public struct ServicePlanning: Sendable, Equatable {
    public var plans: [ServicePortPlan] = []
    public var problems: [String] = []

    public init() {}
}
