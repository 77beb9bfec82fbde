import Foundation
import Logging
import WeftAddress
import WeftKube
import WeftServices

/// `weftd --services`: serves the cluster's Services on this node in place of kube-proxy, keeping the
/// `weft-services` table equal to what the Services and their endpoints say.
/// - Services and their endpoints (ServiceEndpointSource: EndpointSlices v1 or v1beta1, else Endpoints)
///   are followed by list + watch (Informer); a change costs what changed: the Services an event touches
///   are marked dirty and re-planned alone (ServicePlanner, pure), their fragments of the table rebuilt
///   (ServiceImageState, equal to ServiceRuleset's whole image) and the difference written (ServiceTable,
///   one transaction); then the UDP flows to endpoints that went are deleted (ServiceFlows.stale).
///   A change of the node's addresses re-plans everything.
/// - Nothing is written before both kinds are listed: a table from Services without their endpoints
///   would reject every Service for a moment.
/// - A write the kernel refuses is retried on a timer (RetryTimer) with no API event needed; the plans
///   written last stay the base of the stale-flow computation until a write succeeds.
/// - Objects that cannot be read are never dropped silently: ServicePlanner says what is served of them
///   (they reject), and each is logged and counted.
public actor ServiceAgent {
    enum Kind: String, CaseIterable, Sendable { case services, endpoints }

    let client: KubeClient
    let node: String
    let logger: Logger
    let metrics: AgentMetrics
    let source: ServiceEndpointSource
    let table: ServiceKernel
    var serviceNode: ServiceNode
    /// The kernel's executor, shared with the fabric and the policy agent: their writes never interleave.
    let kernel: KernelQueue
    public nonisolated var unownedExecutor: UnownedSerialExecutor { kernel.asUnownedSerialExecutor() }

    var services: [String: ServiceObject] = [:]
    var unreadableServices: [String: UnreadableService] = [:]
    /// By "namespace/name" of the slice (of the Endpoints object, for the fallback).
    var slices: [String: [EndpointSliceObject]] = [:]
    /// Unreadable slice → its Service's key.
    var unreadableSlices: [String: String] = [:]
    var synced: Set<Kind> = []
    var listing: [Kind: Set<String>] = [:]
    /// Whether the kernel holds the table (false before the first write and after a refused one).
    var applied = false
    /// The Services changed since the last successful write, with their plans at that write (kept across
    /// a refused one for the stale-flow computation).
    var pendingOld: [String: [ServicePortPlan]] = [:]
    /// The table as fragments per Service port; rebuilt whole when the node's addresses change.
    var imageState: ServiceImageState?
    /// The Services to re-plan ("namespace/name"): changed, deleted, unreadable, or one of their slices did.
    var dirty: Set<String> = []
    /// Each endpoints object's Services (the labels of its slices, or the Service of an unreadable one),
    /// and each Service's endpoints objects.
    var sliceServices: [String: Set<String>] = [:]
    var serviceSlices: [String: Set<String>] = [:]
    /// The planner's problems by Service, and those of slices with no Service label by slice.
    var problemsByService: [String: [String]] = [:]
    var unlabeledProblems: [String: [String]] = [:]
    /// Whether conntrack was swept for flows a previous weftd's endpoints left (once, after the first write).
    var sweptConntrack = false
    /// Problems the planner reported last, so each is logged once while it lasts.
    var reported: Set<String> = []
    var pendingSince: ContinuousClock.Instant?
    var flushScheduled = false
    var applyFailed = false
    let applyRetry: RetryTimer
    /// What /healthz says, published for the HTTP server's threads.
    public nonisolated let health: ServiceHealth
    /// The healthCheckNodePort servers, given the plans after each write; closed when `run` ends.
    public nonisolated let healthChecks: ServiceHealthCheckServers

    public init(
        client: KubeClient, node: String, serviceNode: ServiceNode, source: ServiceEndpointSource, table: sending ServiceKernel, logger: Logger,
        metrics: AgentMetrics, kernel: KernelQueue = .shared, retry: RetryTimer = RetryTimer()
    ) {
        self.client = client; self.node = node; self.serviceNode = serviceNode; self.source = source; self.table = table
        self.logger = logger; self.metrics = metrics; self.kernel = kernel; self.applyRetry = retry
        let health = ServiceHealth()
        self.health = health
        healthChecks = ServiceHealthCheckServers(logger: logger, metrics: metrics, proxyHealthy: { health.current.healthy })
    }

    /// The endpoint source the API server has and this node's Node object read once (its addresses for
    /// NodePorts): what weftd needs before it builds the agent.
    public static func discover(client: KubeClient, node: String) async throws -> (source: ServiceEndpointSource, nodeAddresses: [IPAddress]) {
        let source = try await ServiceEndpointSource.discover(client: client)
        guard let object = try await client.object("/api/v1/nodes/\(node)") else {
            throw AgentError(.invalidConfig, "node \(node) does not exist in the API: check --node-name or NODE_NAME")
        }
        return (source, ServiceNodeAddresses.fromNode(object))
    }

    /// Refuses to serve Services beside kube-proxy: two proxies would DNAT the same traffic, each its way.
    /// `found` is ServiceTable.kubeProxyRules's answer, each named as it is removed.
    public static func refuseBesideKubeProxy(_ found: [String]) throws {
        guard !found.isEmpty else { return }
        throw AgentError(
            .node,
            "kube-proxy's rules are on this node: remove kube-proxy (its DaemonSet) and then, on the node, \(found.joined(separator: "; ")); "
                + "or run weftd without --services")
    }

    /// The addresses NodePorts are served on now.
    public var nodePortAddresses: [IPAddress] { serviceNode.nodePortAddresses }

    public var isSynced: Bool { synced.count == Kind.allCases.count && applied }

    /// Follows Services and endpoints until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for kind in Kind.allCases {
                var watch = Informer(client: client, path: kind == .services ? "/api/v1/services" : source.path)
                watch.logger = logger
                let hooks = Informer.Hooks(broke: { [metrics] _ in metrics.serviceWatchRestarts.increment() })
                group.addTask { [watch] in await watch.run(hooks) { await self.received(kind, $0) } }
            }
            // The Node's addresses (NodePorts) follow the Node object; until its first list, the ones read at start.
            var nodes = Informer(client: client, path: "/api/v1/nodes")
            nodes.fieldSelector = "metadata.name=\(node)"
            nodes.logger = logger
            group.addTask { [nodes] in await nodes.run { await self.receivedNode($0) } }
            group.addTask { await self.applyRetry.run(failing: { await self.applyFailed }, retry: { await self.retryApply() }) }
            group.addTask { await self.healthChecks.run() }
        }
    }

    /// This node's object, from the Nodes informer: a change of its InternalIP or ExternalIP moves the NodePorts.
    func receivedNode(_ event: Informer.Event) {
        let objects: [[String: Any]]
        switch event {
        case .listedPage(let page): objects = page
        case .upserted(let object): objects = [object]
        case .listStarted, .listEnded, .deleted: return
        }
        for object in objects where (object["metadata"] as? [String: Any])?["name"] as? String == node {
            let addresses = ServiceNodeAddresses.fromNode(object)
            guard addresses != serviceNode.nodePortAddresses else { continue }
            logger.notice("the Node's addresses changed: NodePorts follow", metadata: ["nodePortAddresses": "\(addresses)"])
            var changed = serviceNode
            changed.nodePortAddresses = addresses
            setNode(changed)
        }
    }

    func received(_ kind: Kind, _ event: Informer.Event) {
        switch event {
        case .listStarted:
            listing[kind] = []
            return
        case .listedPage(let objects):
            for object in objects {
                store(kind, object)
                listing[kind]?.insert(Self.objectKey(object))
            }
            return
        case .listEnded:
            let named = listing.removeValue(forKey: kind) ?? []
            switch kind {
            case .services:
                dirty.formUnion(services.keys.filter { !named.contains($0) })
                dirty.formUnion(unreadableServices.keys.filter { !named.contains($0) })
                services = services.filter { named.contains($0.key) }
                unreadableServices = unreadableServices.filter { named.contains($0.key) }
            case .endpoints:
                let gone = Set(slices.keys).union(unreadableSlices.keys).subtracting(named)
                slices = slices.filter { named.contains($0.key) }
                unreadableSlices = unreadableSlices.filter { named.contains($0.key) }
                for key in gone { reindex(endpoints: key) }
            }
            synced.insert(kind)
        case .upserted(let object):
            store(kind, object)
        case .deleted(let object):
            forget(kind, object)
        }
        if pendingSince == nil { pendingSince = .now }
        scheduleFlush()
    }

    /// "namespace/name" of a namespaced object.
    static func objectKey(_ object: [String: Any]) -> String {
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        return "\(metadata["namespace"] as? String ?? "default")/\(metadata["name"] as? String ?? "(no name)")"
    }

    /// Stores an object, or what the planner must know of one that cannot be read.
    func store(_ kind: Kind, _ object: [String: Any]) {
        let key = Self.objectKey(object)
        defer {
            if kind == .services { dirty.insert(key) } else { reindex(endpoints: key) }
        }
        switch kind {
        case .services:
            do {
                services[key] = try ServiceObjectDecoding.decode(ServiceObject.self, object: object, what: "Service \(key)")
                unreadableServices[key] = nil
            } catch {
                services[key] = nil
                unreadableServices[key] = UnreadableService(object: object, reason: "\(error)")
                unreadable("Service \(key)", error)
            }
        case .endpoints:
            do {
                if source == .endpoints {
                    slices[key] = try ServiceObjectDecoding.decode(EndpointsObject.self, object: object, what: "Endpoints \(key)").slices
                } else {
                    slices[key] = [try ServiceObjectDecoding.decode(EndpointSliceObject.self, object: object, what: "EndpointSlice \(key)")]
                }
                unreadableSlices[key] = nil
            } catch {
                slices[key] = nil
                unreadableSlices[key] = Self.serviceOf(unreadable: object, source: source)
                unreadable("\(source == .endpoints ? "Endpoints" : "EndpointSlice") \(key)", error)
            }
        }
    }

    func unreadable(_ what: String, _ error: Error) {
        metrics.serviceUnreadable.increment()
        logger.error("an object weftd cannot read: its Service rejects until it changes", metadata: ["object": "\(what)", "error": "\(error)"])
    }

    /// The Service an unreadable endpoints object belongs to: its label (a slice) or its name (Endpoints),
    /// read leniently; the object's own key when even that is unreadable (no Service matches it).
    static func serviceOf(unreadable object: [String: Any], source: ServiceEndpointSource) -> String {
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let namespace = metadata["namespace"] as? String ?? "default"
        if source == .endpoints { return objectKey(object) }
        let labels = metadata["labels"] as? [String: Any] ?? [:]
        guard let service = labels[EndpointSliceObject.serviceNameLabel] as? String else { return objectKey(object) }
        return "\(namespace)/\(service)"
    }

    func forget(_ kind: Kind, _ object: [String: Any]) {
        let key = Self.objectKey(object)
        switch kind {
        case .services:
            services[key] = nil
            unreadableServices[key] = nil
            dirty.insert(key)
        case .endpoints:
            slices[key] = nil
            unreadableSlices[key] = nil
            reindex(endpoints: key)
        }
    }

    /// Follows an endpoints object's change in the index: the Services it named and names are dirty.
    func reindex(endpoints key: String) {
        let old = sliceServices[key] ?? []
        var new = Set((slices[key] ?? []).compactMap(\.serviceKey))
        if let service = unreadableSlices[key] { new.insert(service) }
        for service in old.subtracting(new) {
            serviceSlices[service]?.remove(key)
            if serviceSlices[service]?.isEmpty == true { serviceSlices[service] = nil }
        }
        for service in new { serviceSlices[service, default: []].insert(key) }
        sliceServices[key] = new.isEmpty ? nil : new
        dirty.formUnion(old)
        dirty.formUnion(new)
        let unlabeled = (slices[key] ?? []).filter { $0.serviceKey == nil }.map(ServicePlanner.unlabeledProblem)
        unlabeledProblems[key] = unlabeled.isEmpty ? nil : unlabeled
    }

    /// The node's addresses changed: NodePorts follow.
    func setNode(_ serviceNode: ServiceNode) {
        guard serviceNode != self.serviceNode else { return }
        self.serviceNode = serviceNode
        if pendingSince == nil { pendingSince = .now }
        scheduleFlush()
    }

    /// Writes once the actor is free: a burst of events becomes one plan and one transaction.
    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        Task { self.flush() }
    }

    func flush() {
        flushScheduled = false
        guard synced.count == Kind.allCases.count else { return }
        apply()
    }

    func retryApply() {
        metrics.serviceSyncRetries.increment()
        logger.info("writing the Services table again after the kernel refused it")
        apply()
    }

    /// One Service planned from what is stored: its slices, or its salvaged plans when unreadable.
    func plan(service key: String) -> ServicePlanning {
        if let service = services[key] {
            var found: [EndpointSliceObject] = [], unreadable: [String] = []
            for entry in serviceSlices[key] ?? [] {
                found += (slices[entry] ?? []).filter { $0.serviceKey == key }
                if unreadableSlices[entry] == key { unreadable.append(entry) }
            }
            return ServicePlanner.plan(service, slices: found, unreadableSlices: unreadable, nodeName: node)
        }
        if let salvaged = unreadableServices[key] { return ServicePlanner.plan(salvaged) }
        return ServicePlanning()
    }

    /// The dirty Services re-planned into the table's state (every Service into a new one when the node
    /// changed): what the kernel must change.
    func replan() -> (ServiceImageState, ServiceImageState.Change) {
        let previous = imageState
        let state: ServiceImageState
        if let previous, previous.node == serviceNode {
            state = previous
        } else {
            state = ServiceImageState(node: serviceNode)
            dirty.formUnion(services.keys)
            dirty.formUnion(unreadableServices.keys)
            if let previous { dirty.formUnion(previous.plansByService.keys) }
        }
        var changes: [String: [ServicePortPlan]] = [:]
        for key in dirty {
            let planning = plan(service: key)
            problemsByService[key] = planning.problems.isEmpty ? nil : planning.problems
            changes[key] = planning.plans
        }
        dirty = []
        imageState = state
        var change = state.update(changes)
        if let previous, previous !== state {
            // New node addresses: the whole table's diff (rare), the old plans the stale flows' base.
            change.before = previous.image()
            change.after = state.image()
            change.oldPlans = previous.plansByService
            change.newPlans = state.plansByService
        }
        for (key, plans) in change.oldPlans where pendingOld[key] == nil { pendingOld[key] = plans }
        return (state, change)
    }

    /// Re-plans what changed, writes the difference, then deletes the UDP flows to endpoints that went.
    func apply() {
        let (state, change) = replan()
        report(problemsByService.values.flatMap { $0 } + unlabeledProblems.values.flatMap { $0 })
        let messages: Int
        do {
            messages = try table.write(change, state: state)
        } catch {
            applied = false
            metrics.serviceSyncErrors.increment()
            logger.error("Services table not written", metadata: ["error": "\(error)"])
            applyFailed = true
            health.refused("\(error)")
            applyRetry.failed()
            return
        }
        if let fallback = table.takeFallback() {
            metrics.serviceSyncFallbacks.increment()
            logger.warning("Services table written, at a higher cost than meant", metadata: ["why": "\(fallback)"])
        }
        applied = true
        applyFailed = false
        health.wrote()
        healthChecks.update(state.healthCheckPlans, nodeAddresses: serviceNode.nodePortAddresses)
        metrics.serviceSyncs.increment()
        metrics.serviceKernelMessages.increment(by: Int64(messages))
        metrics.services.set(Int64(state.planCount))
        metrics.serviceEndpoints.set(Int64(state.endpointCount))
        if let pendingSince { metrics.serviceProgrammingSeconds.record(ContinuousClock.now - pendingSince) }
        pendingSince = nil
        logger.debug("Services table written", metadata: ["ports": "\(state.planCount)", "messages": "\(messages)"])
        var current: [String: [ServicePortPlan]] = [:]
        for key in pendingOld.keys { current[key] = state.plansByService[key] ?? [] }
        var stale = ServiceFlows.stale(from: pendingOld, to: current, state: state)
        pendingOld = [:]
        if !sweptConntrack {
            // The first table of this weftd: flows to endpoints removed, and to Services deleted, while no
            // weftd ran (the latter known from the table the previous weftd left).
            sweptConntrack = true
            do {
                let flows = try table.udpFlows()
                stale += ServiceFlows.strays(flows, plans: state.plans, node: serviceNode)
                stale += ServiceFlows.vanished(flows, inherited: table.inherited ?? [], plans: state.plans, node: serviceNode)
            } catch {
                logger.warning("conntrack not read: UDP flows to endpoints removed before this start stay until they time out", metadata: ["error": "\(error)"])
            }
        }
        guard !stale.isEmpty else { return }
        do {
            let deleted = try table.deleteStale(stale)
            logger.debug("stale UDP flows deleted", metadata: ["flows": "\(stale.count)", "entries": "\(deleted)"])
        } catch {
            // The rules no longer send new flows there; the old ones time out (30 s for UDP by default).
            metrics.serviceSyncErrors.increment()
            logger.warning("stale UDP flows not deleted", metadata: ["flows": "\(stale.count)", "error": "\(error)"])
        }
    }

    /// Logs each problem once while it lasts.
    func report(_ problems: [String]) {
        let current = Set(problems)
        for problem in current.subtracting(reported).sorted() { logger.warning("Service not served as the API says", metadata: ["problem": "\(problem)"]) }
        reported = current
    }
}
