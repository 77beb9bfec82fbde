import Foundation
import Logging
import NIOHTTP1
import WeftKube

/// The Node's `NetworkUnavailable` condition, as flanneld sets it (reason "FlannelIsUp"): the
/// node lifecycle controller taints a node whose condition is True (or that a cloud's route
/// controller created with it True) with `node.kubernetes.io/network-unavailable:NoSchedule`, so
/// nothing is scheduled there until the network agent says otherwise.
public enum NodeNetworkCondition {
    public static let type = "NetworkUnavailable"
    public static let upReason = "WeftIsUp"
    public static let lostReason = "WeftLeaseLost"

    /// A strategic-merge patch of `status.conditions`: the API merges condition lists by their `type`
    /// (patchMergeKey), so the kubelet's own conditions stay. A JSON merge patch would replace the whole
    /// list. The kubelet never writes NetworkUnavailable, so nothing overwrites it.
    public static func patch(unavailable: Bool, reason: String, message: String, now: Date = Date()) -> NodeConditionPatch {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let time = formatter.string(from: now)
        return NodeConditionPatch(
            .init(
                type: type, status: unavailable ? "True" : "False", reason: reason, message: message,
                lastTransitionTime: time, lastHeartbeatTime: time))
    }

    /// PATCH /api/v1/nodes/NAME/status (the ClusterRole needs `patch` on `nodes/status`).
    public static func set(client: KubeClient, node: String, unavailable: Bool, reason: String, message: String) async throws {
        let name = node.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? node
        _ = try await client.call(
            "/api/v1/nodes/\(name)/status", method: .PATCH,
            body: patch(unavailable: unavailable, reason: reason, message: message),
            contentType: "application/strategic-merge-patch+json")
    }
}

/// Where the node's network stands for NodeReadiness: the subnet agent's part.
public enum FabricGate: Equatable, Sendable {
    /// Not yet: what is missing, for /healthz and the log.
    case waiting(String)
    /// subnet.env written and the fabric (vxlan device, routes, neighbour and FDB entries) reconciled once.
    case ready
    /// The node's subnet went to another node (Agent.loseLease).
    case lost(String)
}

/// Turns the node's network "ready" for Kubernetes only once it is: subnet.env written, the fabric in
/// the kernel, with --network-policy the policy agent's first sync in the kernel (so the first pod's
/// ADD neither fails for want of a subnet nor waits for the policy lists), and with --services the first
/// Services table in the kernel (so no pod starts on a node that cannot reach its Services yet). Then, in this order,
/// it writes the conflist (CNIConfInstaller: the runtime reports the network ready and kubelet the
/// node Ready) and sets NetworkUnavailable=False on the Node (kube backend). Afterwards it checks the
/// conflist every few seconds and rewrites it only when its bytes differ from the source (a
/// ConfigMap edit, a deleted file).
///
/// A lost lease (another node holds this node's subnet) leaves the conflist in place: containerd tears
/// a sandbox's network down through the loaded config, and go-cni refuses that while no config is
/// loaded ("cni config not initialized"), so every StopPodSandbox would fail, leaking the running pods'
/// addresses and stalling the drain the operator must do. New pods are stopped twice instead: the plugin refuses ADD (subnet.env
/// was moved to subnet.env.lost), and NetworkUnavailable turns True (reason WeftLeaseLost), which taints
/// the node NoSchedule.
public final class NodeReadiness: @unchecked Sendable {  // mutable state behind `lock`
    public typealias Fabric = @Sendable () async -> FabricGate
    public typealias PolicySynced = @Sendable () async -> Bool

    let fabric: Fabric
    let policySynced: PolicySynced?
    let servicesSynced: PolicySynced?
    let installer: CNIConfInstaller?
    let condition: (client: KubeClient, node: String)?
    let logger: Logger
    /// How often the conflist is checked once the node is ready, and the gates at the latest before.
    let recheckSeconds: Double
    /// The agents say here when a gate may have opened (a status written, the first policy sync in the
    /// kernel): the gates are asked again then, not on a timer.
    public let changes = ChangeSignal()

    private let lock = NSLock()
    private var state: (healthy: Bool, reason: String) = (false, "node network not ready: starting")

    public init(
        fabric: @escaping Fabric, policySynced: PolicySynced?, servicesSynced: PolicySynced? = nil, installer: CNIConfInstaller?,
        condition: (client: KubeClient, node: String)?, logger: Logger, recheckSeconds: Double = 5
    ) {
        self.fabric = fabric
        self.policySynced = policySynced
        self.servicesSynced = servicesSynced
        self.installer = installer
        self.condition = condition
        self.logger = logger
        self.recheckSeconds = recheckSeconds
    }

    /// /healthz's part: 503 with what is missing until the node network is ready, then "ok" followed by
    /// what was done (the conflist, the Node condition).
    public var health: (healthy: Bool, reason: String) { lock.withLock { state } }

    private func report(_ healthy: Bool, _ reason: String) {
        lock.withLock { state = (healthy, reason) }
    }

    /// The time left until `date` (the next patch attempt), at least a millisecond.
    static func until(_ date: Date) -> Duration { .milliseconds(max(1, Int(date.timeIntervalSinceNow * 1000))) }

    /// Runs until cancelled (it never returns on its own: it is one task of weftd's group, whose first
    /// finished task stops the rest).
    public func run() async {
        var waitingFor = ""
        var conditionSet = false
        var lostReported = false
        var patchDelay = 1.0
        var nextPatch = Date.distantPast
        var installFailure = ""
        while !Task.isCancelled {
            let gate = await fabric()
            let synced = await policySynced?() ?? true
            let servicesServed = await servicesSynced?() ?? true
            var missing: String?
            switch gate {
            case .lost(let reason):
                report(false, "node network lost: \(reason)")
                if !lostReported, let condition, Date() >= nextPatch {
                    do {
                        try await NodeNetworkCondition.set(
                            client: condition.client, node: condition.node, unavailable: true,
                            reason: NodeNetworkCondition.lostReason, message: "weftd: \(reason)")
                        lostReported = true
                        logger.error(
                            "set NetworkUnavailable=True on the Node: no new pods are scheduled here",
                            metadata: ["node": "\(condition.node)", "reason": "\(NodeNetworkCondition.lostReason)"])
                    } catch {
                        logger.warning("cannot set NetworkUnavailable=True", metadata: ["error": "\(error)", "retryIn": "\(patchDelay)s"])
                        nextPatch = Date().addingTimeInterval(patchDelay)
                        patchDelay = min(patchDelay * 2, 30)
                    }
                }
                await changes.wait(atMost: lostReported || condition == nil ? .seconds(recheckSeconds) : Self.until(nextPatch))
                continue
            case .waiting(let what):
                missing = what
            case .ready:
                missing = !synced ? "NetworkPolicy not synced with the API yet" : !servicesServed ? "Services not synced with the API yet" : nil
            }
            if let missing {
                if missing != waitingFor {
                    waitingFor = missing
                    logger.info("node network not ready yet: no conflist written", metadata: ["waitingFor": "\(missing)"])
                }
                report(false, "node network not ready: \(missing)")
                await changes.wait(atMost: .seconds(recheckSeconds))
                continue
            }
            var done: [String] = []
            if let installer {
                do {
                    if try installer.install() {
                        logger.info(
                            "wrote the CNI config: the runtime reports the network ready",
                            metadata: ["path": "\(installer.destination)", "source": "\(installer.source)"])
                    }
                    installFailure = ""
                    done.append("conflist \(installer.destination) in place")
                } catch {
                    if "\(error)" != installFailure {
                        installFailure = "\(error)"
                        logger.error("cannot write the CNI config", metadata: ["error": "\(error)"])
                    }
                    report(false, "node network not ready: \(error)")
                    try? await Task.sleep(nanoseconds: UInt64(recheckSeconds * 1e9))
                    continue
                }
            }
            if let condition {
                if !conditionSet && Date() >= nextPatch {
                    do {
                        try await NodeNetworkCondition.set(
                            client: condition.client, node: condition.node, unavailable: false,
                            reason: NodeNetworkCondition.upReason, message: "weftd is running on this node")
                        conditionSet = true
                        patchDelay = 1
                        logger.info(
                            "set NetworkUnavailable=False on the Node",
                            metadata: [
                                "node": "\(condition.node)",
                                "reason": "\(NodeNetworkCondition.upReason)",
                            ])
                    } catch {
                        logger.warning("cannot set NetworkUnavailable=False", metadata: ["error": "\(error)", "retryIn": "\(patchDelay)s"])
                        nextPatch = Date().addingTimeInterval(patchDelay)
                        patchDelay = min(patchDelay * 2, 30)
                    }
                }
                guard conditionSet else {
                    report(false, "node network in place but the Node's NetworkUnavailable condition is not set yet (see the log)")
                    await changes.wait(atMost: Self.until(nextPatch))
                    continue
                }
                done.append("NetworkUnavailable=False (\(NodeNetworkCondition.upReason))")
            }
            report(true, done.isEmpty ? "ok" : "ok: " + done.joined(separator: ", "))
            try? await Task.sleep(nanoseconds: UInt64(recheckSeconds * 1e9))
        }
    }
}
