import Foundation
import NIOHTTP1
import WeftAddress
import WeftKube

/// flannel's `--kube-subnet-mgr`: the node's subnet is its `spec.podCIDR` (allocated by the
/// controller-manager), published data lives in Node annotations, and peers come from watching all
/// Nodes. There is no expiry: a node's routes go when its Node object does (or loses its annotations).
public struct KubeLeaseEngine: LeaseEngine {
    public let client: KubeClient
    public let nodeName: String
    /// kube-flannel's net-conf.json (the same JSON etcd keeps under <prefix>/config).
    public let netConfPath: String

    public init(client: KubeClient, nodeName: String, netConfPath: String) {
        self.client = client; self.nodeName = nodeName; self.netConfPath = netConfPath
    }

    var nodePath: String { "/api/v1/nodes/\(nodeName.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? nodeName)" }

    public func networkConfig() async throws -> String {
        guard let text = try? String(contentsOfFile: netConfPath, encoding: .utf8) else {
            throw AgentError(.file, "cannot read the network config \(netConfPath) (--net-conf)")
        }
        return text
    }

    public func leases() async throws -> (leases: [StoredLease], cursor: String) {
        let (items, cursor) = try await Informer(client: client, path: Self.nodesPath).list()
        let nodes = items.compactMap { KubeNode(json: $0) }
        return (nodes.compactMap { $0.lease.map { StoredLease(lease: $0, modRevision: 0) } }, cursor)
    }

    /// Waits for the controller-manager to give the node a pod CIDR, checks it against the network,
    /// then publishes the annotations.
    public func acquire(config: NetConf, ttl: Int, attributes: LeaseAttributes, previous: IPNetwork?, previousIPv6: IPNetwork?) async throws
        -> SubnetLeaser.Acquired
    {
        let node: KubeNode? = try await nodeWithPodCIDR()
        let podCIDR = node?.podCIDR
        guard let subnet = podCIDR, config.network.contains(subnet.networkAddress), subnet.prefixLength >= config.network.prefixLength else {
            throw AgentError(.invalidConfig, "node \(nodeName)'s podCIDR \(podCIDR.map { "\($0)" } ?? "") is outside Network \(config.network)")
        }
        var ipv6Subnet: IPNetwork?
        if let ipv6 = config.ipv6 {
            guard let cidr = node?.ipv6PodCIDR, ipv6.network.contains(cidr.networkAddress), cidr.prefixLength >= ipv6.network.prefixLength else {
                throw AgentError(
                    .invalidConfig,
                    "node \(nodeName) has no IPv6 podCIDR inside IPv6Network \(ipv6.network) "
                        + "(spec.podCIDRs: dual-stack needs the controller-manager's --cluster-cidr with both families)")
            }
            ipv6Subnet = cidr
        }
        let lease = SubnetLease(subnet: subnet, ipv6Subnet: ipv6Subnet, attributes: attributes)
        _ = try await restore(lease, grant: 0)
        return SubnetLeaser.Acquired(lease: lease, grant: 0, renewed: subnet == previous?.canonical)
    }

    /// The node once the controller-manager gave it a pod CIDR: read, and while it has none, the
    /// Nodes watched from the version read until an event shows this one with a pod CIDR (no asking
    /// every second). The watch resumes by itself after a close or a failure; when its version is gone
    /// (410) the node is read again.
    func nodeWithPodCIDR() async throws -> KubeNode {
        while true {
            let node = KubeNode(try await client.get(nodePath, as: NodeDocument.self))
            if node.podCIDR != nil { return node }
            let informer = Informer(client: client, path: Self.nodesPath)
            let (updates, continuation) = AsyncStream.makeStream(of: KubeNode.self)
            let name = nodeName
            let found = try await withThrowingTaskGroup(of: KubeNode?.self) { group in
                group.addTask {
                    defer { continuation.finish() }
                    do {
                        try await informer.follow(from: node.resourceVersion) { event in
                            guard case .upserted(let object) = event, let node = KubeNode(json: object), node.name == name, node.podCIDR != nil
                            else { return }
                            continuation.yield(node)
                        }
                    } catch is InformerGone {}  // read the node again
                    return nil
                }
                group.addTask {
                    for await node in updates { return node }
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            if let found { return found }
            try Task.checkCancellation()
        }
    }

    /// Node annotations do not expire.
    public func keepAlive(_ grant: Int64) async throws -> Bool { true }

    public func restore(_ lease: SubnetLease, grant: Int64) async throws -> Bool {
        _ = try await client.call(
            nodePath, method: .PATCH, body: try KubeNode.annotationPatch(lease.attributes),
            contentType: "application/merge-patch+json")
        return true
    }

    /// The Nodes' changes after `cursor`, watched by the Informer: a closed or failed watch resumes
    /// from the last resourceVersion; the stream ends with an error only when that version is gone
    /// (410), and the agent lists again (`leases()`, paginated). A failed watch, and its recovery, come
    /// as watchBroke/watchCurrent: the agent judges how long the leases may be stale.
    public func changes(after cursor: String) -> AsyncThrowingStream<[LeaseEvent], Error> {
        let informer = Informer(client: client, path: Self.nodesPath)
        return AsyncThrowingStream { continuation in
            let hooks = Informer.Hooks(
                broke: { error in continuation.yield([.watchBroke("\(error)")]) },
                recovered: { continuation.yield([.watchCurrent]) })
            let task = Task {
                do {
                    try await informer.follow(from: cursor, hooks) { event in
                        let change: (object: [String: Any], deleted: Bool)
                        switch event {
                        case .upserted(let object): change = (object, false)
                        case .deleted(let object): change = (object, true)
                        case .listStarted, .listedPage, .listEnded: return  // follow never lists
                        }
                        let deleted = change.deleted
                        guard let node = KubeNode(json: change.object), let subnet = node.podCIDR else { return }
                        // A node without (or no longer with) published data is no peer.
                        continuation.yield([deleted ? .removed(subnet) : node.lease.map(LeaseEvent.upsert) ?? .removed(subnet)])
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    static let nodesPath = "/api/v1/nodes"
}
