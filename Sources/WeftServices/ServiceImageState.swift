import WeftAddress
import WeftNftables

/// The Services table kept as per-Service-port fragments, so that a change costs what changed: the
/// plans of the Services that changed are given (`update`), their fragments rebuilt, the contested keys
/// they touch decided again, and the answer is two partial images (those fragments and elements before
/// and after) whose diff is the kernel's change (NftClient.applyDiff). The whole image (`image`) is the
/// first write's and the retry's; it equals ServiceRuleset.image of `plans` (the reference), as the
/// property test checks.
///
/// What crosses Service ports, decided on keys alone:
/// - a ClusterIP's key is never an external address's: a fragment depends on which of its external keys
///   are ClusterIP keys, so when that changes for a key, the Services naming it are rebuilt too;
/// - a frontend key is held by the first in order of the fragments naming it (ClusterIP keys are named
///   by ClusterIPs only), across the serving, firewall and no-endpoint maps; a NodePort key per map.
public final class ServiceImageState {
    public let node: ServiceNode
    /// Each Service's plans (by "namespace/name"), as planned last.
    public private(set) var plansByService: [String: [ServicePortPlan]] = [:]
    var fragments: [ServicePortOrder: ServiceFragment] = [:]
    var ordersByService: [String: [ServicePortOrder]] = [:]
    /// How many plans have each ClusterIP key.
    var clusterIPKeys: [[UInt8]: Int] = [:]
    /// The Services whose fragments name each external key (ServiceFragment.candidates).
    var candidateServices: [[UInt8]: Set<String>] = [:]
    /// The fragments naming each frontend key, and each NodePort key by map.
    var frontendClaims: [[UInt8]: Set<ServicePortOrder>] = [:]
    var portClaims: [String: [[UInt8]: Set<ServicePortOrder>]] = [:]
    /// The Services serving each UDP frontend (ServiceFlows.Frontend), for stale flows of a change.
    var udpFrontendServices: [ServiceFlows.Frontend: Set<String>] = [:]
    /// Totals over every plan (metrics).
    public private(set) var planCount = 0
    public private(set) var endpointCount = 0

    public init(node: ServiceNode) {
        self.node = node
    }

    /// Every plan, in the planner's order (whole-table work: the first write, a refused one's retry).
    public var plans: [ServicePortPlan] { plansByService.values.flatMap { $0 }.sorted(by: ServicePlanner.order) }

    /// The plans of the Services that have a healthCheckNodePort (ServiceHealthCheckPlan counts over a Service's ports).
    public var healthCheckPlans: [ServicePortPlan] { healthCheckServices.flatMap { plansByService[$0] ?? [] } }
    /// The Services that have a healthCheckNodePort.
    var healthCheckServices: Set<String> = []

    /// A change: the Services re-planned, and the table's part that changed as two partial images.
    public struct Change: Sendable {
        /// The fragments and contested elements the change touched, as they were and as they are. Both
        /// declare the shared maps, so their diff changes those maps' elements and nothing of the rest.
        public var before: NftTableImage
        public var after: NftTableImage
        /// The re-planned Services' plans before and after (for ServiceFlows.stale).
        public var oldPlans: [String: [ServicePortPlan]] = [:]
        public var newPlans: [String: [ServicePortPlan]] = [:]
        public var isEmpty: Bool { before == after }
    }

    /// Takes the Services' new plans (by key; none: the Service is gone).
    public func update(_ changes: [String: [ServicePortPlan]]) -> Change {
        var change = Change(before: Self.partialBase, after: Self.partialBase)
        var rebuild = Set<String>()
        var touchedClusterKeys: [[UInt8]: Bool] = [:]
        for (service, plans) in changes {
            let old = plansByService[service] ?? []
            guard old != plans else { continue }
            change.oldPlans[service] = old
            change.newPlans[service] = plans
            rebuild.insert(service)
            for plan in old {
                planCount -= 1; endpointCount -= plan.endpoints.count
                forEachUDPFrontend(plan) { frontend in
                    // The key goes with its last Service: the index never outlives the frontends served.
                    udpFrontendServices[frontend]?.remove(service)
                    if udpFrontendServices[frontend]?.isEmpty == true { udpFrontendServices[frontend] = nil }
                }
                guard let key = Self.clusterIPKey(plan) else { continue }
                if touchedClusterKeys[key] == nil { touchedClusterKeys[key] = clusterIPKeys[key] != nil }
                clusterIPKeys[key] = (clusterIPKeys[key] ?? 0) > 1 ? (clusterIPKeys[key] ?? 0) - 1 : nil
            }
            for plan in plans {
                planCount += 1; endpointCount += plan.endpoints.count
                forEachUDPFrontend(plan) { udpFrontendServices[$0, default: []].insert(service) }
                guard let key = Self.clusterIPKey(plan) else { continue }
                if touchedClusterKeys[key] == nil { touchedClusterKeys[key] = clusterIPKeys[key] != nil }
                clusterIPKeys[key, default: 0] += 1
            }
            plansByService[service] = plans.isEmpty ? nil : plans
            if plans.contains(where: { $0.healthCheckNodePort != nil }) {
                healthCheckServices.insert(service)
            } else {
                healthCheckServices.remove(service)
            }
        }
        // A key that became or stopped being a ClusterIP's changes the fragments naming it as external.
        for (key, was) in touchedClusterKeys where was != (clusterIPKeys[key] != nil) {
            rebuild.formUnion(candidateServices[key] ?? [])
        }
        guard !rebuild.isEmpty else { return change }

        var oldFragments: [(ServicePortOrder, ServiceFragment)] = []
        var newFragments: [(ServicePortOrder, ServiceFragment)] = []
        for service in rebuild {
            for order in ordersByService[service] ?? [] { if let fragment = fragments[order] { oldFragments.append((order, fragment)) } }
            for plan in plansByService[service] ?? [] where plan.clusterIP != nil {
                newFragments.append((ServicePortOrder(plan), ServiceFragment(plan, node: node) { self.clusterIPKeys[$0] != nil }))
            }
        }
        var touchedFrontends = Set<[UInt8]>(), touchedPorts: [String: Set<[UInt8]>] = [:]
        for (_, fragment) in oldFragments + newFragments {
            for (set, elements) in fragment.elements {
                if ServiceFragment.frontendSets.contains(set) {
                    touchedFrontends.formUnion(elements.keys)
                } else {
                    touchedPorts[set, default: []].formUnion(elements.keys)
                }
            }
        }
        change.before.elements = winners(touchedFrontends, touchedPorts)
        for (order, fragment) in oldFragments {
            unregister(order, fragment)
            fragments[order] = nil
        }
        for service in rebuild { ordersByService[service] = nil }
        for (order, fragment) in newFragments {
            register(order, fragment)
            fragments[order] = fragment
            ordersByService[fragment.plan.namespace + "/" + fragment.plan.name, default: []].append(order)
        }
        change.after.elements = winners(touchedFrontends, touchedPorts)
        Self.append(oldFragments.sorted { $0.0 < $1.0 }.map(\.1), to: &change.before)
        Self.append(newFragments.sorted { $0.0 < $1.0 }.map(\.1), to: &change.after)
        return change
    }

    /// The whole table: ServiceRuleset.image(plans, node:) built from the fragments.
    public func image() -> NftTableImage {
        var image = ServiceImageBuilder(node: node).image()
        Self.append(fragments.sorted { $0.key < $1.key }.map(\.value), to: &image)
        let all = winners(Set(frontendClaims.keys), portClaims.mapValues { Set($0.keys) })
        for (set, elements) in all { image.elements[set, default: []] += elements }
        image.elements = image.elements.mapValues { $0.sorted { $0.key.lexicographicallyPrecedes($1.key) } }
        return image
    }

    /// The Services that serve a UDP frontend, other than `except` (ServiceFlows.stale of a change).
    public func plans(servingUDP frontend: IPAddress, port: UInt16, except: Set<String>) -> [ServicePortPlan] {
        let services = udpFrontendServices[ServiceFlows.Frontend(address: frontend, port: port)] ?? []
        return services.subtracting(except).flatMap { plansByService[$0] ?? [] }
    }

    /// Both partial images declare the shared maps (so their elements are diffed, never the maps
    /// themselves), and nothing else of the shared part.
    static let partialBase: NftTableImage = {
        var image = NftTableImage(name: ServiceRuleset.table)
        image.sets = [IPAddress.Family.v4, .v6].flatMap { ServiceLayout.Family(family: $0).sets }
        return image
    }()

    static func append(_ fragments: [ServiceFragment], to image: inout NftTableImage) {
        for fragment in fragments {
            image.regularChains += fragment.chains
            image.rules += fragment.rules
            image.sets += fragment.sets
        }
    }

    static func clusterIPKey(_ plan: ServicePortPlan) -> [UInt8]? {
        plan.clusterIP.map { ServiceLayout.Family.key($0, plan.transport, plan.port) }
    }

    func forEachUDPFrontend(_ plan: ServicePortPlan, _ body: (ServiceFlows.Frontend) -> Void) {
        guard plan.transport == .udp else { return }
        for frontend in ServiceFlows.frontends(plan, node: node) { body(frontend) }
    }

    func register(_ order: ServicePortOrder, _ fragment: ServiceFragment) {
        let service = fragment.plan.namespace + "/" + fragment.plan.name
        for key in fragment.candidates { candidateServices[key, default: []].insert(service) }
        for (set, elements) in fragment.elements {
            if ServiceFragment.frontendSets.contains(set) {
                for key in elements.keys { frontendClaims[key, default: []].insert(order) }
            } else {
                for key in elements.keys { portClaims[set, default: [:]][key, default: []].insert(order) }
            }
        }
    }

    func unregister(_ order: ServicePortOrder, _ fragment: ServiceFragment) {
        let service = fragment.plan.namespace + "/" + fragment.plan.name
        for key in fragment.candidates {
            candidateServices[key]?.remove(service)
            if candidateServices[key]?.isEmpty == true { candidateServices[key] = nil }
        }
        for (set, elements) in fragment.elements {
            if ServiceFragment.frontendSets.contains(set) {
                for key in elements.keys {
                    frontendClaims[key]?.remove(order)
                    if frontendClaims[key]?.isEmpty == true { frontendClaims[key] = nil }
                }
            } else {
                for key in elements.keys {
                    portClaims[set]?[key]?.remove(order)
                    if portClaims[set]?[key]?.isEmpty == true { portClaims[set]?[key] = nil }
                }
            }
        }
    }

    /// The elements the table holds for these keys: the first claimer's.
    func winners(_ frontends: Set<[UInt8]>, _ ports: [String: Set<[UInt8]>]) -> [String: [NftSetElement]] {
        var result: [String: [NftSetElement]] = [:]
        for key in frontends {
            guard let first = frontendClaims[key]?.min(), let fragment = fragments[first] else { continue }
            for set in ServiceFragment.frontendSetList {
                if let element = fragment.elements[set]?[key] { result[set, default: []].append(element) }
            }
        }
        for (set, keys) in ports {
            for key in keys {
                guard let first = portClaims[set]?[key]?.min(), let element = fragments[first]?.elements[set]?[key] else { continue }
                result[set, default: []].append(element)
            }
        }
        return result
    }
}
