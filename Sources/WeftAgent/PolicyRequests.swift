import Foundation
import WeftAddress
import WeftCNI
import WeftPolicy

extension PolicyAgent {
    public func handle(_ request: PolicyRequest) async -> PolicyReply {
        switch request.op {
        case .attach: return await attach(request)
        case .release: return release(request)
        case .explain: return PolicyReply(ok: true, text: explain(pod: request.namespace.map { "\($0)/\(request.name ?? "")" }))
        }
    }

    /// The pod's verdicts in the kernel for `addresses`, before its ADD creates the interface.
    func attach(_ request: PolicyRequest) async -> PolicyReply {
        let started = ContinuousClock.now
        attachSequence += 1
        let sequence = attachSequence
        guard let namespace = request.namespace, let name = request.name, !namespace.isEmpty, !name.isEmpty else {
            return .failure("attach needs the pod's namespace and name")
        }
        // They become an API path below: only names the API server itself accepts.
        guard Validation.isDNSLabel(namespace), Validation.isDNSSubdomain(name) else {
            return .failure("attach: \"\(Validation.printable(namespace))/\(Validation.printable(name))\" is not a pod's namespace and name")
        }
        let addresses = (request.addresses ?? []).compactMap(IPAddress.init)
        guard !addresses.isEmpty, addresses.count == request.addresses?.count else {
            return .failure("attach needs the pod's addresses, as IP addresses: \(request.addresses ?? [])")
        }
        // Woken by the sync's table write (or a pod's event), not by asking every few milliseconds.
        let deadline = ContinuousClock.now + .milliseconds(Int(syncWait * 1000))
        while !isSynced && ContinuousClock.now < deadline { await stateChanged.wait(until: deadline) }
        if let notReady { return .failure(notReady, notSynced: true) }
        let key = "\(namespace)/\(name)"
        // The Pod exists before its sandbox, so the watch has normally delivered it long before; one
        // created a moment ago may still be on its way (a few milliseconds), else it is asked for.
        let watchDeadline = ContinuousClock.now + .milliseconds(50)
        while pods[key] == nil && ContinuousClock.now < watchDeadline { await stateChanged.wait(until: watchDeadline) }
        if pods[key] == nil {
            // A pod the API does not have is selected by nothing, as the API would say; one weftd
            // cannot ask about is not guessed open.
            logger.debug("pod not delivered by the watch: asking the API", metadata: ["pod": "\(key)"])
            do {
                if let object = try await client.object("/api/v1/namespaces/\(namespace)/pods/\(name)"), pods[key] == nil {
                    pods[key] = try PolicyPod(json: object)
                }
            } catch {
                return .failure("pod \(key) is not known yet and the API could not be asked: \(error)")
            }
        }
        guard let pod = pods[key] else { return .failure("the API has no pod \(key)") }
        if pod.nodeName != node {
            return .failure("pod \(key) is \(pod.nodeName.map { "scheduled to node \($0)" } ?? "not scheduled"); this weftd enforces for node \(node)")
        }
        if let uid = request.uid, let current = pod.uid, uid != current {
            return .failure("pod \(key) is another pod now (uid \(current), the ADD's \(uid))")
        }
        let owners = liveOwners()
        if let (address, owner) = addresses.lazy.compactMap({ address in owners[address].map { (address, $0) } }).first(where: { $0.1 != key }) {
            return .failure("\(address) is reported for live pod \(owner) of this node")
        }
        // An attach that waited (for the sync, for the API) behind a newer one of the same pod, say the
        // retry of an ADD whose client gave up on this one, never replaces the newer claim.
        if let current = claims[key], current.sequence > sequence {
            return .failure("a newer attach of \(key) (sandbox \(current.sandbox ?? "?")) came first")
        }
        claims[key] = PodClaim(addresses: addresses, sandbox: request.sandbox, uid: request.uid ?? pod.uid, sequence: sequence)
        saveClaims()
        if !attachQuickly(key, addresses: addresses) {
            if pendingSince == nil { pendingSince = started }
            apply()
            if let lastError { return .failure("the policy table was not written: \(lastError)") }
        }
        metrics.policyAttachSeconds.record(ContinuousClock.now - started)
        logger.debug(
            "pod attached",
            metadata: [
                "pod": "\(key)", "addresses": "\(addresses)",
                "selected": "\(compiled.selections[key].map { "\($0)" } ?? "no")",
            ])
        return PolicyReply(ok: true)
    }

    /// The common case of a pod's ADD, as elements only (PodDelta): the table is otherwise up to date,
    /// the pod has no address yet, and nothing else holds the announced ones. False when a whole
    /// compile is due instead (which converges to the same table).
    func attachQuickly(_ key: String, addresses: [IPAddress]) -> Bool {
        func whole(_ reason: String) -> Bool {
            logger.debug("attach compiles whole", metadata: ["pod": "\(key)", "reason": "\(reason)"])
            return false
        }
        guard let applied else { return whole("no table written yet") }
        guard pendingSince == nil else { return whole("API changes pending") }
        guard let pod = pods[key], pod.addresses.isEmpty, compiled.selections[key] == nil else { return whole("the pod has addresses already") }
        let taken = Set(pods.values.flatMap(\.addresses) + claims.filter { $0.key != key }.values.flatMap(\.addresses))
        guard !addresses.contains(where: taken.contains) else { return whole("an address is another pod's") }
        guard
            let delta = PolicyCompiler.delta(
                adding: pod.with(addresses: addresses), policies: Array(policies.values),
                namespaces: Array(namespaces.values), node: node, to: compiled)
        else {
            return whole("a policy, chain or set family is new to the node")
        }
        do {
            self.applied = try nft.add(PolicyRuleset.elements(delta, to: compiled), to: applied)
            try PodIsolation.release(addresses, client: nft)
        } catch {
            logger.warning("pod's elements not added: compiling whole", metadata: ["pod": "\(key)", "error": "\(error)"])
            return false
        }
        compiled.add(delta)
        metrics.policyPods.set(Int64(compiled.selections.count))
        metrics.policyQuickAttaches.increment()
        return true
    }

    /// The plugin's DEL: the sandbox's addresses are no longer the pod's. Only that sandbox's claim goes
    /// (a stale DEL of an earlier sandbox leaves the current one's); a plugin that names no sandbox
    /// releases by address.
    func release(_ request: PolicyRequest) -> PolicyReply {
        let addresses = Set((request.addresses ?? []).compactMap(IPAddress.init))
        let owners = claims.filter { _, claim in
            if let sandbox = request.sandbox, let holder = claim.sandbox { return sandbox == holder }
            return claim.addresses.contains(where: addresses.contains)
        }.keys
        // Addresses only the API reported go with the Pod's deletion; nothing claimed, nothing to compile.
        guard !owners.isEmpty else { return PolicyReply(ok: true) }
        for key in owners { claims[key] = nil }
        saveClaims()
        if pendingSince == nil { pendingSince = .now }
        scheduleFlush()
        return PolicyReply(ok: true)
    }

    /// An attach whose client gave up before the answer (the plugin then isolated or refused the pod and,
    /// refusing, gave its addresses back): its claim, if still this sandbox's, goes.
    func abandon(_ request: PolicyRequest) {
        guard request.op == .attach, let namespace = request.namespace, let name = request.name else { return }
        let key = "\(namespace)/\(name)"
        guard let claim = claims[key], claim.sandbox == request.sandbox,
            claim.addresses.map(\.description).sorted() == (request.addresses ?? []).sorted()
        else { return }
        claims[key] = nil
        saveClaims()
        logger.notice("an attach whose client gave up is undone", metadata: ["pod": "\(key)", "sandbox": "\(claim.sandbox ?? "?")"])
        if pendingSince == nil { pendingSince = .now }
        scheduleFlush()
    }

    /// What applies to one pod ("namespace/name") or to every pod of this node, in words.
    func explain(pod: String?) -> String {
        var lines: [String] = []
        let local = effectivePods().filter { $0.nodeName == node && !$0.hostNetwork }
        let shown = pod.map { key in local.filter { $0.key == key } + pods.values.filter { $0.key == key && $0.nodeName != node } } ?? local
        if let pod, shown.isEmpty { return "\(pod): no such pod known to weftd" }
        lines.append(
            "\(policies.count) NetworkPolicies in the cluster; \(compiled.selections.count) of this node's pods selected"
                + (isSynced ? "" : " (not synced with the API yet)"))
        for entry in shown.sorted(by: { $0.key < $1.key }) {
            let addresses = entry.addresses.map(\.description).joined(separator: ", ")
            lines.append("\(entry.key) (\(addresses.isEmpty ? "no address yet" : addresses))")
            if entry.nodeName != node {
                lines.append("  on node \(entry.nodeName ?? "none"): enforced there, not here")
                continue
            }
            let selection = compiled.selections[entry.key] ?? [:]
            for direction in [Direction.ingress, .egress] {
                let word = direction == .ingress ? "ingress" : "egress"
                guard let keys = selection[direction], !keys.isEmpty else {
                    lines.append("  \(word): open (no policy selects it for \(word))")
                    continue
                }
                lines.append(
                    "  \(word): isolated; allowed only as \(keys.joined(separator: ", ")) allow"
                        + " (\(rulesText(keys, direction)))")
            }
        }
        return lines.joined(separator: "\n")
    }

    func rulesText(_ keys: [String], _ direction: Direction) -> String {
        let rules = keys.compactMap { policies[$0] }.flatMap { direction == .ingress ? $0.ingress : $0.egress }
        if rules.isEmpty { return "nothing: every \(direction == .ingress ? "incoming" : "outgoing") connection is dropped" }
        return "\(rules.count) rule\(rules.count == 1 ? "" : "s"); replies to allowed connections pass"
    }
}
