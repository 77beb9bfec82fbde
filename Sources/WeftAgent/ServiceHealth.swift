import Foundation

/// What /healthz says of weftd --services: written by ServiceAgent, read on the HTTP server's threads.
/// Unhealthy while the kernel refuses the table (the retry timer keeps trying) or before the first table
/// is written; an object that cannot be read is logged and counted but not unhealthy: its Service
/// rejects, the others are served.
public final class ServiceHealth: @unchecked Sendable {  // every field behind `lock`
    private let lock = NSLock()
    private var written = false
    private var writeError: String?
    private var listeners: [@Sendable () -> Void] = []

    public init() {}

    func wrote() {
        let first = lock.withLock {
            defer { (written, writeError) = (true, nil) }
            return !written
        }
        if first { notify() }
    }
    func refused(_ error: String) { lock.withLock { writeError = error } }

    /// Whether the first table is in the kernel: NodeReadiness waits for it, so a pod started on this
    /// node finds its Services served.
    public var isSynced: Bool { lock.withLock { written } }

    /// Called once the first table is written (NodeReadiness asks its gates again then).
    public func onSynced(_ listener: @escaping @Sendable () -> Void) { lock.withLock { listeners.append(listener) } }

    private func notify() { for listener in lock.withLock({ listeners }) { listener() } }

    public var current: (healthy: Bool, reason: String) {
        lock.withLock {
            if let writeError { return (false, "Services table not written: \(writeError)") }
            return written ? (true, "ok") : (false, "Services not synced with the API yet")
        }
    }
}
