import Foundation

/// Wakes every task waiting for a change, where ChangeSignal wakes one: the policy agent's attaches,
/// any number at once, waiting for the first sync or for their pod's event. A wait returns at the first
/// `notifyAll` after it began (one that comes before its task has parked still counts), at its
/// deadline, or once its task is cancelled; the waiter then looks at its condition again.
public final class ChangeBroadcast: @unchecked Sendable {  // `waits` and `lastID` behind `lock`
    private enum Wait {
        case begun
        case parked(CheckedContinuation<Void, Never>)
        case woken
    }

    private let lock = NSLock()
    private var waits: [UInt64: Wait] = [:]
    private var lastID: UInt64 = 0

    public init() {}

    public func notifyAll() {
        let parked = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            var parked: [CheckedContinuation<Void, Never>] = []
            for (id, wait) in waits {
                if case .parked(let continuation) = wait { parked.append(continuation) }
                waits[id] = .woken
            }
            return parked
        }
        for continuation in parked { continuation.resume() }
    }

    public func wait(until deadline: ContinuousClock.Instant) async {
        // Registered before anything is awaited: a notify from here on wakes this wait.
        let id = lock.withLock { () -> UInt64 in
            lastID += 1
            waits[lastID] = .begun
            return lastID
        }
        defer { lock.withLock { waits[id] = nil } }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.park(id) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    private func park(_ id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Under the lock, so a notify or a cancellation either finds the continuation or is seen here.
                let now = lock.withLock { () -> Bool in
                    guard case .begun = waits[id], !Task.isCancelled else { return true }
                    waits[id] = .parked(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let parked = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                defer { if waits[id] != nil { waits[id] = .woken } }
                if case .parked(let continuation) = waits[id] { return continuation }
                return nil
            }
            parked?.resume()
        }
    }
}
