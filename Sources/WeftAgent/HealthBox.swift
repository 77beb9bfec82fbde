import Foundation

/// The latest status, shared with the HTTP server's threads: the agent stores it after each change,
/// /healthz reads it (and judges the lease's expiry at read time).
public final class HealthBox: @unchecked Sendable {  // `latest` and `observers` behind `lock`
    private let lock = NSLock()
    private var latest: AgentStatus?
    private var observers: [@Sendable () -> Void] = []

    public init() {}

    public func store(_ status: AgentStatus) {
        let observers = lock.withLock {
            latest = status
            return self.observers
        }
        for observer in observers { observer() }
    }

    /// Called after each store (NodeReadiness asks its fabric gate again).
    public func onStore(_ observer: @escaping @Sendable () -> Void) {
        lock.withLock { observers.append(observer) }
    }

    public func check() -> (healthy: Bool, reason: String) {
        lock.lock(); defer { lock.unlock() }
        return latest?.health() ?? (false, "no lease yet")
    }
}
