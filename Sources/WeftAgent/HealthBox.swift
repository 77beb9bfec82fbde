import Foundation

/// The latest status, shared with the HTTP server's threads: the agent stores it after each change,
/// /healthz reads it (and judges the lease's expiry at read time).
public final class HealthBox: @unchecked Sendable {
    private let lock = NSLock()
    private var latest: AgentStatus?

    public init() {}

    public func store(_ status: AgentStatus) {
        lock.lock(); defer { lock.unlock() }
        latest = status
    }

    public func check() -> (healthy: Bool, reason: String) {
        lock.lock(); defer { lock.unlock() }
        return latest?.health() ?? (false, "no lease yet")
    }
}
