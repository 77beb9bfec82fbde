import Foundation

/// What /healthz says of weftd --services: written by ServiceAgent, read on the HTTP server's threads.
/// Unhealthy while the kernel refuses the table (the retry timer keeps trying) or before the first table
/// is written; an object that cannot be read is logged and counted but not unhealthy: its Service
/// rejects, the others are served.
public final class ServiceHealth: @unchecked Sendable {  // every field behind `lock`
    private let lock = NSLock()
    private var written = false
    private var writeError: String?

    public init() {}

    func wrote() { lock.withLock { (written, writeError) = (true, nil) } }
    func refused(_ error: String) { lock.withLock { writeError = error } }

    public var current: (healthy: Bool, reason: String) {
        lock.withLock {
            if let writeError { return (false, "Services table not written: \(writeError)") }
            return written ? (true, "ok") : (false, "Services not synced with the API yet")
        }
    }
}
