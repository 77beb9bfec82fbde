import Foundation

/// Wakes a waiting loop when something it watches changed, instead of the loop asking every few
/// hundred milliseconds. `notify` may come from any thread; `wait` returns at the first notify since
/// the last wait (one that came while nobody waited counts), after `atMost`, or once the task is
/// cancelled. One waiter at a time.
public final class ChangeSignal: @unchecked Sendable {  // `pending` and `waiter` behind `lock`
    private let lock = NSLock()
    private var pending = false
    private var waiter: CheckedContinuation<Void, Never>?

    public init() {}

    public func notify() {
        let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            guard let waiter = self.waiter else {
                pending = true
                return nil
            }
            self.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    public func wait(atMost limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.next() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private func next() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Under the lock, so a cancellation either finds the waiter or is seen here.
                let now = lock.withLock { () -> Bool in
                    if pending || Task.isCancelled {
                        pending = false
                        return true
                    }
                    waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                defer { self.waiter = nil }
                return self.waiter
            }
            waiter?.resume()
        }
    }
}
