import Foundation
import WeftAddress
@testable import WeftAgent

/// An in-memory engine with etcd's conditional writes, for the leasing logic: records keyed as etcd
/// keys them (the key names both subnets of a dual-stack lease), deleted with the grant they hang on.
final class FakeEngine: ConditionalLeaseStore, @unchecked Sendable {  // records behind `lock`; hooks set before use
    private let lock = NSLock()
    private var stored: [String: StoredLease] = [:]
    private var grants: [String: Int64] = [:]
    /// Runs once, just before the next create lands: another node writing meanwhile.
    var beforeCreate: ((FakeEngine) -> Void)?
    /// Thrown once, just after the next replace lands: a request cut short after the store applied it.
    var afterReplace: (any Error)?
    private var revision: Int64 = 1
    private var nextGrant: Int64 = 100
    private(set) var revoked: [Int64] = []
    let config: String

    init(config: String) { self.config = config }

    func seed(_ lease: SubnetLease) {
        locked {
            revision += 1; stored[lease.keyName] = StoredLease(lease: lease, modRevision: revision)
        }
    }

    var all: [SubnetLease] { locked { stored.values.map(\.lease) } }

    private func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    func records() async throws -> (leases: [StoredLease], revision: Int64) { locked { (Array(stored.values), revision) } }
    func grant(ttl: Int) async throws -> Int64 {
        locked {
            nextGrant += 1; return nextGrant
        }
    }
    func revoke(_ grant: Int64) async throws {
        locked {
            revoked.append(grant)
            for (key, holder) in grants where holder == grant { stored[key] = nil; grants[key] = nil }
        }
    }

    func create(_ lease: SubnetLease, grant: Int64) async throws -> Bool {
        // Give other tasks a chance to run between list and write, as a network round trip would.
        await Task.yield()
        if let hook = locked({ () -> ((FakeEngine) -> Void)? in
            defer { beforeCreate = nil }; return beforeCreate
        }) {
            hook(self)
        }
        return locked {
            guard stored[lease.keyName] == nil else { return false }
            revision += 1
            stored[lease.keyName] = StoredLease(lease: lease, modRevision: revision)
            grants[lease.keyName] = grant
            return true
        }
    }

    func replace(_ lease: SubnetLease, grant: Int64, modRevision: Int64) async throws -> Bool {
        let (written, failure) = locked { () -> (Bool, (any Error)?) in
            guard stored[lease.keyName]?.modRevision == modRevision else { return (false, nil) }
            revision += 1
            stored[lease.keyName] = StoredLease(lease: lease, modRevision: revision)
            grants[lease.keyName] = grant
            defer { afterReplace = nil }
            return (true, afterReplace)
        }
        if let failure { throw failure }
        return written
    }

}
