import Foundation
import WeftAddress
@testable import WeftAgent

/// An in-memory engine with etcd's conditional writes, for the leasing logic.
final class FakeEngine: ConditionalLeaseStore, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [IPNetwork: StoredLease] = [:]
    private var revision: Int64 = 1
    private var nextGrant: Int64 = 100
    private(set) var revoked: [Int64] = []
    let config: String

    init(config: String) { self.config = config }

    func seed(_ lease: SubnetLease) {
        locked { revision += 1; stored[lease.subnet] = StoredLease(lease: lease, modRevision: revision) }
    }

    var all: [SubnetLease] { locked { stored.values.map(\.lease) } }

    private func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    func records() async throws -> (leases: [StoredLease], revision: Int64) { locked { (Array(stored.values), revision) } }
    func grant(ttl: Int) async throws -> Int64 { locked { nextGrant += 1; return nextGrant } }
    func revoke(_ grant: Int64) async throws { locked { revoked.append(grant) } }

    func create(_ lease: SubnetLease, grant: Int64) async throws -> Bool {
        // Give other tasks a chance to run between list and write, as a network round trip would.
        await Task.yield()
        return locked {
            guard stored[lease.subnet] == nil else { return false }
            revision += 1
            stored[lease.subnet] = StoredLease(lease: lease, modRevision: revision)
            return true
        }
    }

    func replace(_ lease: SubnetLease, grant: Int64, modRevision: Int64) async throws -> Bool {
        locked {
            guard stored[lease.subnet]?.modRevision == modRevision else { return false }
            revision += 1
            stored[lease.subnet] = StoredLease(lease: lease, modRevision: revision)
            return true
        }
    }

}
