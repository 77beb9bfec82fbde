import Logging
import WeftAddress
import WeftEtcd

/// A lease as the engine holds it: flannel's record plus what is needed to update it safely.
public struct StoredLease: Equatable, Sendable {
    public let lease: SubnetLease
    /// The engine's revision of the record's last change (etcd's mod_revision).
    public let modRevision: Int64
}

public enum LeaseEvent: Equatable, Sendable {
    case upsert(SubnetLease)
    case removed(IPNetwork)
    /// The engine's watch failed and the engine resumes it itself (the kube backend's Informer), so the
    /// stream goes on: changes may be missing meanwhile. The text is the failure.
    case watchBroke(String)
    /// The resumed watch delivers again (or stayed open and quiet): the leases are current.
    case watchCurrent

    /// Whether the event changes a lease (and so the routes).
    var changesLeases: Bool {
        switch self {
        case .upsert, .removed: return true
        case .watchBroke, .watchCurrent: return false
        }
    }
}

/// The subnet engine weftd leases from (etcd, or the Kubernetes API), as the agent uses it.
public protocol LeaseEngine: Sendable {
    /// flannel's net-conf JSON.
    func networkConfig() async throws -> String
    /// Every lease and the engine's cursor (etcd's revision, the API's resourceVersion) they were read at.
    func leases() async throws -> (leases: [StoredLease], cursor: String)
    /// Takes this node's subnet, publishing `attributes` with it.
    func acquire(config: NetConf, ttl: Int, attributes: LeaseAttributes, previous: IPNetwork?, previousIPv6: IPNetwork?) async throws -> SubnetLeaser.Acquired
    /// Renews a grant; false when the engine no longer knows it (it expired: the record is gone).
    func keepAlive(_ grant: Int64) async throws -> Bool
    /// Writes this node's record again after it was deleted; false when another record took its place.
    func restore(_ lease: SubnetLease, grant: Int64) async throws -> Bool
    /// Takes `lease`'s subnets again under a new grant after the old one expired; nil when another
    /// node holds either of them now. Never another subnet.
    func reclaim(_ lease: SubnetLease, config: NetConf, ttl: Int) async throws -> SubnetLeaser.Acquired?
    /// Changes after `cursor`, batch by batch; ends with an error when the stream breaks.
    func changes(after cursor: String) -> AsyncThrowingStream<[LeaseEvent], Error>
}

extension LeaseEngine {
    /// Engines whose records do not expire (the kube backend's podCIDR) lease the same subnet again.
    public func reclaim(_ lease: SubnetLease, config: NetConf, ttl: Int) async throws -> SubnetLeaser.Acquired? {
        let again = try await acquire(config: config, ttl: ttl, attributes: lease.attributes, previous: lease.subnet, previousIPv6: lease.ipv6Subnet)
        return again.lease.subnet == lease.subnet && again.lease.ipv6Subnet == lease.ipv6Subnet ? again : nil
    }
}

/// A store of lease records with expiring grants and conditional writes (etcd's model), which
/// SubnetLeaser takes subnets from.
public protocol ConditionalLeaseStore: Sendable {
    /// Every record and the store revision they were read at.
    func records() async throws -> (leases: [StoredLease], revision: Int64)
    /// A new expiring grant of `ttl` seconds that records can be attached to.
    func grant(ttl: Int) async throws -> Int64
    func revoke(_ grant: Int64) async throws
    /// Creates the record only if no record exists under its key; false when one does.
    func create(_ lease: SubnetLease, grant: Int64) async throws -> Bool
    /// Rewrites a record only if it is unchanged since `modRevision`; false otherwise.
    func replace(_ lease: SubnetLease, grant: Int64, modRevision: Int64) async throws -> Bool
}

/// flannel's etcd layout: `<prefix>/config` and `<prefix>/subnets/<a.b.c.d>-<len>`.
public struct EtcdLeaseEngine: LeaseEngine, ConditionalLeaseStore {
    public let client: EtcdClient
    public let prefix: String

    public init(client: EtcdClient, prefix: String) {
        self.client = client
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
    }

    var subnetsPrefix: String { "\(prefix)/subnets/" }
    func key(_ lease: SubnetLease) -> String { subnetsPrefix + lease.keyName }

    public func networkConfig() async throws -> String {
        guard let config = try await client.get("\(prefix)/config").kvs.first?.value else {
            throw AgentError(.invalidConfig, "no network config at \(prefix)/config in etcd (write flannel's net-conf JSON there)")
        }
        return config
    }

    public func leases() async throws -> (leases: [StoredLease], cursor: String) {
        let (leases, revision) = try await records()
        return (leases, String(revision))
    }

    public func records() async throws -> (leases: [StoredLease], revision: Int64) {
        let reply = try await client.list(prefix: subnetsPrefix)
        let leases = reply.kvs.compactMap { kv -> StoredLease? in
            guard let (subnet, ipv6) = SubnetLease.subnets(fromKey: kv.key), let attributes = Self.attributes(kv) else { return nil }
            return StoredLease(lease: SubnetLease(subnet: subnet, ipv6Subnet: ipv6, attributes: attributes), modRevision: kv.modRevision)
        }
        return (leases, reply.revision)
    }

    public func grant(ttl: Int) async throws -> Int64 { try await client.grant(ttl: ttl) }
    public func revoke(_ grant: Int64) async throws { try await client.revoke(grant) }
    public func keepAlive(_ grant: Int64) async throws -> Bool { try await client.keepAlive(grant) > 0 }

    public func acquire(config: NetConf, ttl: Int, attributes: LeaseAttributes, previous: IPNetwork?, previousIPv6: IPNetwork?) async throws
        -> SubnetLeaser.Acquired
    {
        try await SubnetLeaser(store: self, config: config, ttl: ttl).acquire(attributes: attributes, previous: previous, previousIPv6: previousIPv6)
    }

    public func restore(_ lease: SubnetLease, grant: Int64) async throws -> Bool { try await create(lease, grant: grant) }

    public func reclaim(_ lease: SubnetLease, config: NetConf, ttl: Int) async throws -> SubnetLeaser.Acquired? {
        try await SubnetLeaser(store: self, config: config, ttl: ttl).reclaim(lease)
    }

    public func create(_ lease: SubnetLease, grant: Int64) async throws -> Bool {
        try await client.transaction(EtcdMessages.createIfAbsent(key: key(lease), value: try lease.attributes.json(), lease: grant))
    }

    public func replace(_ lease: SubnetLease, grant: Int64, modRevision: Int64) async throws -> Bool {
        try await client.transaction(
            EtcdMessages.replaceIfUnchanged(
                key: key(lease), value: try lease.attributes.json(),
                lease: grant, modRevision: modRevision))
    }

    public func changes(after cursor: String) -> AsyncThrowingStream<[LeaseEvent], Error> {
        let upstream = client.watch(prefix: subnetsPrefix, fromRevision: (Int64(cursor) ?? 0) + 1)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await reply in upstream {
                        continuation.yield(reply.events.compactMap(Self.leaseEvent))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// A lease value weftd cannot read (not flannel's LeaseAttrs, a field of the wrong type) is no peer,
    /// as flanneld skips a lease its backend cannot unmarshal; said in the log with the key and why.
    static func attributes(_ kv: EtcdMessages.KeyValue) -> LeaseAttributes? {
        do {
            return try LeaseAttributes.parse(kv.value)
        } catch {
            leaseLogger.warning("lease value not read: no peer for it", metadata: ["key": "\(kv.key)", "error": "\(error)"])
            return nil
        }
    }

    static func leaseEvent(_ event: EtcdMessages.Event) -> LeaseEvent? {
        switch event {
        case .put(let kv):
            guard let (subnet, ipv6) = SubnetLease.subnets(fromKey: kv.key), let attributes = attributes(kv) else { return nil }
            return .upsert(SubnetLease(subnet: subnet, ipv6Subnet: ipv6, attributes: attributes))
        case .delete(let key):
            return SubnetLease.subnet(fromKey: key).map(LeaseEvent.removed)
        }
    }
}

private let leaseLogger = Logger(label: "weft.leases")
