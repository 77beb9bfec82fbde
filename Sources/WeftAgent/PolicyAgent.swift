import Foundation
import Logging
import WeftAddress
import WeftKube
import WeftNftables
import WeftPolicy
import WeftSystem

/// `weftd --network-policy`: keeps the node's `inet weft-policy` table equal to what the cluster's
/// NetworkPolicies say about this node's pods.
/// - Pods, Namespaces and NetworkPolicies are followed by list + watch (Informer); each change is
///   compiled whole (PolicyCompiler, pure) and written as a diff against the last table (one transaction).
/// - A pod's ADD announces the addresses it reserved before the pod has an interface (`attach`): they
///   stand for the pod until the API reports its own, and the answer waits until its verdicts are in
///   the kernel. The Pod object exists before its sandbox, so its labels are known; if the watch has not
///   delivered it yet it is fetched.
/// - Pods the plugin isolated while weftd was unreachable (PodIsolation) are let out once they are known.
public actor PolicyAgent {
    enum Kind: String, CaseIterable, Sendable { case pods, namespaces, policies }

    let client: KubeClient
    let node: String
    let logger: Logger
    let metrics: AgentMetrics
    let nft: NftClient
    /// The kernel's executor: this actor runs on it, so its nftables writes never run beside the fabric's.
    let kernel: KernelQueue
    public nonisolated var unownedExecutor: UnownedSerialExecutor { kernel.asUnownedSerialExecutor() }
    /// How long an ADD waits for the first list of every kind.
    let syncWait: Double
    /// Where the announced addresses are kept across restarts (tmpfs, beside the socket): a pod ADDed
    /// just before weftd restarts keeps its verdicts even if kubelet has not reported its address yet.
    let announcedFile: String?

    var pods: [String: PolicyPod] = [:]
    var namespaces: [String: PolicyNamespace] = [:]
    var policies: [String: NetworkPolicy] = [:]
    /// NetworkPolicies whose namespace cannot be read, by policyKey: each isolates every pod (enforcedPolicies).
    var isolatingEverywhere: Set<String> = []
    /// Pods that cannot be read, by key: the addresses to isolate (the last ones on this node, the claim's).
    var untrusted: [String: Set<IPAddress>] = [:]
    /// Addresses announced by ADD, per pod key, until the API reports the same (PodClaim).
    var claims: [String: PodClaim] = [:]
    /// Numbers attaches in arrival order, so an older one never replaces a newer one's claim.
    var attachSequence: UInt64 = 0
    var synced: Set<Kind> = []
    /// The keys ("kind namespace/name") a list in progress has named so far, per kind.
    var listing: [Kind: Set<String>] = [:]
    /// Objects weftd cannot read at all, by "kind namespace/name": while any is known, weftd is not
    /// healthy and refuses attaches (the plugin isolates or refuses the pod): it cannot know what they say.
    var unreadable: [String: String] = [:] {
        didSet { health.unreadable = unreadable.sorted { $0.key < $1.key }.first.map { "\($0.key): \($0.value)" } }
    }
    /// What /healthz says, published for the HTTP server's threads.
    public nonisolated let health = PolicyHealth()
    var compiled = CompiledPolicies()
    var applied: NftTableImage?
    /// When the oldest change not yet in the kernel arrived.
    var pendingSince: ContinuousClock.Instant?
    var flushScheduled = false
    var lastError: String?
    /// The last table write failed: the retry timer writes it again, without waiting for an API event.
    var applyFailed = false
    let applyRetry = RetryTimer()
    /// Wakes the attaches waiting for the first sync or for their pod: a table written, a pod stored.
    let stateChanged = ChangeBroadcast()

    public init(
        client: KubeClient, node: String, logger: Logger, metrics: AgentMetrics, syncWait: Double = 5,
        announcedFile: String? = nil, kernel: KernelQueue = .shared
    ) throws {
        self.client = client
        self.kernel = kernel
        self.node = node
        self.logger = logger
        self.metrics = metrics
        self.syncWait = syncWait
        self.announcedFile = announcedFile
        nft = NftClient(handle: .current())
        // Kept until the first list of pods, which prunes every claim it shows stale.
        if let announcedFile, let data = FileManager.default.contents(atPath: announcedFile) {
            claims = ClaimsFile.decode(data)
        }
    }

    /// Saves the claims through DurableFile (a unique temporary name, fsync, rename: never half a file,
    /// and two weftd never share the temporary name).
    func saveClaims() {
        guard let announcedFile else { return }
        do {
            let data = try ClaimsFile.encode(claims)
            try DurableFile.replace(announcedFile, with: String(decoding: data, as: UTF8.self), mode: 0o600, directoryMode: 0o755)
        } catch {
            logger.warning("announced addresses not saved", metadata: ["file": "\(announcedFile)", "error": "\(error)"])
        }
    }

    public var isSynced: Bool { synced.count == Kind.allCases.count && applied != nil }

    /// Why an attach cannot be answered with verdicts now, or nil.
    var notReady: String? {
        if let unreadable = health.unreadable { return "NetworkPolicy: an object weftd cannot read: \(unreadable)" }
        guard isSynced else { return "weftd has not listed pods, namespaces and policies yet\(lastError.map { ": \($0)" } ?? "")" }
        return health.current.healthy ? nil : health.current.reason
    }

    /// Follows the three kinds until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for kind in Kind.allCases {
                var watch = Informer(client: client, path: Self.path(kind))
                watch.logger = logger
                let hooks = Informer.Hooks(
                    broke: { [metrics, health] in
                        metrics.policyWatchRestarts.increment(); health.watchBroke(kind.rawValue, $0)
                    },
                    recovered: { [health] in health.watchListed(kind.rawValue) })
                group.addTask { [watch] in await watch.run(hooks) { await self.received(kind, $0) } }
            }
            group.addTask { await self.applyRetry.run(failing: { await self.applyFailed }, retry: { await self.retryApply() }) }
        }
    }

    static func path(_ kind: Kind) -> String {
        switch kind {
        case .pods: "/api/v1/pods"
        case .namespaces: "/api/v1/namespaces"
        case .policies: "/apis/networking.k8s.io/v1/networkpolicies"
        }
    }

    func received(_ kind: Kind, _ event: Informer.Event) {
        switch event {
        case .listStarted:
            listing[kind] = []
            return
        case .listedPage(let objects):
            // Stored as they come, over what was known: until the list ends nothing is dropped (a
            // policy that still exists is never missing from a table written meanwhile).
            for object in objects.map(PolicyAPIObject.init) {
                store(kind, object)
                listing[kind]?.insert(unreadableKey(kind, object))
            }
            return
        case .listEnded:
            let named = listing.removeValue(forKey: kind) ?? []
            func listed(_ key: String) -> Bool { named.contains("\(kind.rawValue) \(key)") }
            switch kind {
            case .pods: pods = pods.filter { listed($0.key) }
            case .namespaces: namespaces = namespaces.filter { listed($0.key) }
            case .policies:
                policies = policies.filter { listed($0.key) }
                isolatingEverywhere = isolatingEverywhere.filter(listed)
            }
            if kind == .pods { untrusted = untrusted.filter { listed($0.key) } }
            unreadable = unreadable.filter { !$0.key.hasPrefix(kind.rawValue + " ") || named.contains($0.key) }
            if kind == .pods { pruneClaims(complete: true) }
            synced.insert(kind)
            health.watchListed(kind.rawValue)
        case .upserted(let raw):
            let object = PolicyAPIObject(raw)
            let before = kind == .pods ? object.key.flatMap { pods[$0] } : nil
            let untrustedBefore = object.key.flatMap { untrusted[$0] }
            store(kind, object)
            if kind == .pods { stateChanged.notifyAll() }
            if kind == .pods { pruneClaims(complete: false) }
            let untrustedChanged = untrustedBefore != object.key.flatMap { untrusted[$0] }
            if kind == .pods && !untrustedChanged && !changesTable(before, object.key.flatMap { pods[$0] }) { return }
        case .deleted(let raw):
            let object = PolicyAPIObject(raw)
            let before = kind == .pods ? object.key.flatMap { pods[$0] } : nil
            let changes = kind != .pods || changesTable(before, nil) || object.key.flatMap { untrusted[$0] } != nil
            forget(kind, object)
            if !changes { return }
        }
        if pendingSince == nil { pendingSince = .now }
        scheduleFlush()
    }

    /// Whether a pod's change can change the table: not when it has no address before or after (a pod
    /// waiting for its sandbox, whose label or status changes), nor when kubelet reports the addresses
    /// its ADD announced. Pods come and go far more often than policies; these need no compile.
    func changesTable(_ before: PolicyPod?, _ after: PolicyPod?) -> Bool {
        func effective(_ pod: PolicyPod?) -> PolicyPod? {
            guard let pod else { return nil }
            return claims[pod.key].map { pod.with(addresses: $0.addresses) } ?? pod
        }
        let old = effective(before), new = effective(after)
        if old == new { return false }
        func live(_ pod: PolicyPod?) -> Bool { pod.map { !$0.addresses.isEmpty && !$0.hostNetwork } ?? false }
        return live(old) || live(new)
    }

    /// "kind namespace/name" of an object, for `unreadable` and a list's names.
    func unreadableKey(_ kind: Kind, _ object: PolicyAPIObject) -> String {
        switch kind {
        case .pods: "pods \(object.key ?? "(no name)")"
        case .namespaces: "namespaces \(object.name ?? "(no name)")"
        case .policies: "policies \(policyKey(object))"
        }
    }

    /// A policy's key in `policies` and `isolatingEverywhere`, also when its namespace or name cannot be read.
    func policyKey(_ object: PolicyAPIObject) -> String { "\(object.namespace ?? "(no namespace)")/\(object.name ?? "(no name)")" }

    /// Never drops an object, never throws, never opens (the object is logged and counted):
    /// - a NetworkPolicy that cannot be read isolates (NetworkPolicy.unreadable): the pods it selects when
    ///   its selector can be read, else every pod of its namespace, both directions; one whose namespace
    ///   or name cannot be read also leaves weftd unhealthy (attaches refused), and without a namespace it
    ///   isolates every pod of the node;
    /// - a Pod that cannot be read is no peer (its labels and address are unknown: no selector matches
    ///   it) and the addresses it last had on this node, or announced by ADD, are isolated both ways; weftd
    ///   is unhealthy (attaches refused) until the API changes or deletes it;
    /// - a Namespace that cannot be read is forgotten (matched by no namespaceSelector) and weftd is unhealthy.
    func store(_ kind: Kind, _ object: PolicyAPIObject) {
        let key = unreadableKey(kind, object)
        do {
            switch kind {
            case .pods: try storePod(object)
            case .namespaces:
                do {
                    let namespace = try object.decode(PolicyNamespace.self, kind: "Namespace")
                    namespaces[namespace.name] = namespace
                } catch {
                    if let name = object.name { namespaces[name] = nil }
                    throw error
                }
            case .policies: try storePolicy(object)
            }
            if unreadable.removeValue(forKey: key) != nil { logger.notice("readable again", metadata: ["object": "\(key)"]) }
        } catch {
            unreadable[key] = "\(error)"
            metrics.policyUnreadable.increment()
            logger.error("an object weftd cannot read: not healthy until it changes", metadata: ["object": "\(key)", "error": "\(error)"])
        }
    }

    func storePod(_ object: PolicyAPIObject) throws {
        do {
            guard object.namespace != nil else { throw PolicyError("Pod \(object.key ?? "(no name)")", "metadata.namespace", "missing") }
            let pod = try object.decode(PolicyPod.self, kind: "Pod")
            pods[pod.key] = pod
            untrusted[pod.key] = nil
        } catch {
            guard let key = object.key else { throw error }
            let last = pods.removeValue(forKey: key)
            var addresses = untrusted[key] ?? []
            if let last, last.nodeName == node, !last.hostNetwork { addresses.formUnion(last.addresses) }
            // What the object itself still says: after a restart there is no last readable version, and
            // a running pod's claim is long gone.
            addresses.formUnion(object.podAddressesPossiblyOn(node: node))
            addresses.formUnion(claims[key]?.addresses ?? [])
            untrusted[key] = addresses
            throw error
        }
    }

    func storePolicy(_ object: PolicyAPIObject) throws {
        let key = policyKey(object)
        isolatingEverywhere.remove(key)
        do {
            guard object.namespace != nil, object.name != nil else { throw PolicyError("NetworkPolicy \(key)", "metadata", "no namespace or name") }
            policies[key] = try object.decode(NetworkPolicy.self, kind: "NetworkPolicy")
        } catch {
            guard let isolating = NetworkPolicy.unreadable(object) else {
                policies[key] = nil
                isolatingEverywhere.insert(key)
                logger.error("a NetworkPolicy without a namespace weftd can read isolates every pod", metadata: ["policy": "\(key)"])
                throw error
            }
            policies[key] = isolating
            logger.error(
                "a NetworkPolicy weftd cannot read isolates the pods it selects",
                metadata: [
                    "policy": "\(key)", "selector": "\(isolating.podSelector)", "types": "\(isolating.policyTypes.map(\.rawValue).sorted())",
                    "error": "\(error)",
                ])
            if object.name == nil { throw error }
            metrics.policyUnreadable.increment()
        }
    }

    func forget(_ kind: Kind, _ object: PolicyAPIObject) {
        unreadable[unreadableKey(kind, object)] = nil
        switch kind {
        case .pods:
            guard let key = object.key else { return }
            pods[key] = nil
            untrusted[key] = nil
            if claims.removeValue(forKey: key) != nil { saveClaims() }
        case .namespaces: namespaces[object.name ?? ""] = nil
        case .policies:
            policies[policyKey(object)] = nil
            isolatingEverywhere.remove(policyKey(object))
        }
    }

    /// The policies enforced: the readable and isolating ones, and for each policy whose namespace cannot
    /// be read, one isolating every pod of each namespace a pod is in.
    func enforcedPolicies(_ pods: [PolicyPod]) -> [NetworkPolicy] {
        var all = Array(policies.values)
        guard !isolatingEverywhere.isEmpty else { return all }
        for namespace in Set(pods.map(\.namespace)).sorted() {
            all.append(
                NetworkPolicy(
                    namespace: namespace, name: "(a policy whose namespace cannot be read)", podSelector: .everything,
                    policyTypes: [.ingress, .egress], ingress: [], egress: []))
        }
        return all
    }

    /// Writes the table once the actor is free: a burst of events becomes one compile and one transaction.
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

    /// The retry timer's write (RetryTimer): the same objects, the kernel asked again.
    func retryApply() {
        metrics.policyApplyRetries.increment()
        logger.info("writing the policy table again after the kernel refused it")
        apply()
    }

    /// Compiles everything and commits the difference; then lets out isolated pods weftd now knows.
    func apply() {
        let started = ContinuousClock.now
        let effective = effectivePods()
        compiled = PolicyCompiler.compile(
            policies: enforcedPolicies(effective), pods: effective, namespaces: Array(namespaces.values), node: node,
            isolated: untrusted.values.reduce(into: Set()) { $0.formUnion($1) })
        let image = PolicyRuleset.image(compiled)
        let compileTime = ContinuousClock.now - started
        do {
            let replaced = try nft.update(from: applied, to: image)
            applied = image
            applyFailed = false
            lastError = nil
            health.applyError = nil
            health.synced = isSynced
            stateChanged.notifyAll()
            metrics.policyApplies.increment()
            if replaced { logger.info("policy table written whole", metadata: ["policies": "\(policies.count)", "pods": "\(compiled.selections.count)"]) }
        } catch {
            applied = nil  // unknown state: the next change replaces the table whole
            lastError = "\(error)"
            health.applyError = lastError
            metrics.policyApplyErrors.increment()
            logger.error("policy table not written", metadata: ["error": "\(error)"])
            applyFailed = true
            applyRetry.failed()
            return
        }
        metrics.policies.set(Int64(policies.count))
        metrics.policyPods.set(Int64(compiled.selections.count))
        metrics.policyCompileSeconds.record(compileTime)
        if let pendingSince { metrics.policyEventToKernelSeconds.record(ContinuousClock.now - pendingSince) }
        pendingSince = nil
        releaseIsolated(known: Set(effective.flatMap(\.addresses)))
    }

    /// The pods as the compiler sees them: a claimed address stands for its pod (and is no other pod's
    /// any more) until the API reports the pod with exactly those addresses. A claim never takes an
    /// address from a live pod of this node as the API reports it: such a claim is stale and goes.
    func effectivePods() -> [PolicyPod] {
        pruneClaims(complete: false)
        let claimed = Set(claims.values.flatMap(\.addresses))
        return pods.values.map { pod in
            if let claim = claims[pod.key] { return pod.with(addresses: claim.addresses) }
            return claimed.isEmpty ? pod : pod.with(addresses: pod.addresses.filter { !claimed.contains($0) })
        }
    }

    /// The addresses the API reports for this node's live pods (running, not being deleted), by owner.
    func liveOwners() -> [IPAddress: String] {
        var owners: [IPAddress: String] = [:]
        for pod in pods.values where pod.nodeName == node && !pod.ending && !pod.hostNetwork {
            for address in pod.addresses { owners[address] = pod.key }
        }
        return owners
    }

    /// Drops the claims the API now reports (done) or shows stale (PodClaim.staleReason). `complete`:
    /// after a full list of pods, when a claim for a pod the API lacks is stale too.
    func pruneClaims(complete: Bool) {
        guard !claims.isEmpty else { return }
        let owners = liveOwners()
        var changed = false
        for (key, claim) in claims {
            if let pod = pods[key], pod.addresses.sorted() == claim.addresses.sorted(), pod.uid == claim.uid || claim.uid == nil {
                claims[key] = nil
                changed = true
            } else if let reason = claim.staleReason(key: key, pod: pods[key], node: node, liveOwners: owners, complete: complete) {
                claims[key] = nil
                changed = true
                logger.notice("a stale address claim goes", metadata: ["pod": "\(key)", "addresses": "\(claim.addresses)", "reason": "\(reason)"])
            }
        }
        if changed { saveClaims() }
    }

    func releaseIsolated(known: Set<IPAddress>) {
        do {
            let isolated = try PodIsolation.isolated(client: nft).filter(known.contains)
            guard !isolated.isEmpty else { return }
            try PodIsolation.release(isolated, client: nft)
            logger.notice("isolated pods let out: their verdicts are installed", metadata: ["addresses": "\(isolated)"])
        } catch {
            logger.warning("isolation table not read", metadata: ["error": "\(error)"])
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
