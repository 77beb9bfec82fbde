import Foundation
import Logging
import WeftAddress
import WeftServices

/// `weftd --services`: serves the cluster's Services on this node in place of kube-proxy, keeping the
/// `weft-services` table equal to what the Services and their endpoints say.
/// - Services and their endpoints (ServiceEndpointSource: EndpointSlices v1 or v1beta1, else Endpoints)
///   are followed by list + watch (Informer); every change is planned whole (ServicePlanner, pure),
///   turned into a table image (ServiceRuleset) and written as a diff (ServiceTable, one transaction);
///   then the UDP flows to endpoints that went are deleted (ServiceFlows.stale).
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
    /// The plans in the kernel; nil before the first write and after a refused one.
    var applied: [ServicePortPlan]?
    /// The plans of the last successful write, kept across a refused one for the stale-flow computation.
    var lastWritten: [ServicePortPlan] = []
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

    public var isSynced: Bool { synced.count == Kind.allCases.count && applied != nil }

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
                services = services.filter { named.contains($0.key) }
                unreadableServices = unreadableServices.filter { named.contains($0.key) }
            case .endpoints:
                slices = slices.filter { named.contains($0.key) }
                unreadableSlices = unreadableSlices.filter { named.contains($0.key) }
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
        case .endpoints:
            slices[key] = nil
            unreadableSlices[key] = nil
        }
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

    /// The planner's view of what is stored.
    var plannerSource: ServiceSource {
        ServiceSource(
            services: Array(services.values), slices: slices.values.flatMap { $0 }, unreadable: unreadableServices.values.sorted { $0.key < $1.key },
            unreadableSlices: unreadableSlices)
    }

    /// Plans everything, writes the table, then deletes the UDP flows to endpoints that went.
    func apply() {
        let planning = ServicePlanner.plan(plannerSource, nodeName: node)
        report(planning.problems)
        let image = ServiceRuleset.image(planning.plans, node: serviceNode)
        let messages: Int
        do {
            messages = try table.write(image, plans: planning.plans)
        } catch {
            applied = nil
            metrics.serviceSyncErrors.increment()
            logger.error("Services table not written", metadata: ["error": "\(error)"])
            applyFailed = true
            health.refused("\(error)")
            applyRetry.failed()
            return
        }
        applied = planning.plans
        applyFailed = false
        health.wrote()
        healthChecks.update(planning.plans, nodeAddresses: serviceNode.nodePortAddresses)
        metrics.serviceSyncs.increment()
        metrics.serviceKernelMessages.increment(by: Int64(messages))
        metrics.services.set(Int64(planning.plans.count))
        metrics.serviceEndpoints.set(Int64(planning.plans.reduce(0) { $0 + $1.endpoints.count }))
        if let pendingSince { metrics.serviceProgrammingSeconds.record(ContinuousClock.now - pendingSince) }
        pendingSince = nil
        logger.debug("Services table written", metadata: ["ports": "\(planning.plans.count)", "messages": "\(messages)"])
        var stale = ServiceFlows.stale(from: lastWritten, to: planning.plans, node: serviceNode)
        if !sweptConntrack {
            // The first table of this weftd: flows to endpoints removed while no weftd ran.
            sweptConntrack = true
            do {
                stale += ServiceFlows.strays(try table.udpFlows(), plans: planning.plans, node: serviceNode)
            } catch {
                logger.warning("conntrack not read: UDP flows to endpoints removed before this start stay until they time out", metadata: ["error": "\(error)"])
            }
        }
        lastWritten = planning.plans
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
