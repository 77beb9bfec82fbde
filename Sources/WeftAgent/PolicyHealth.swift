import Foundation

/// What /healthz says of NetworkPolicy enforcement: written by PolicyAgent, read on the HTTP server's
/// threads and by attach. Judged when read, so a watch broken past `brokenBound` turns it unhealthy
/// without an event to say so, and it turns healthy again by itself once every watch has listed again.
public final class PolicyHealth: @unchecked Sendable {  // every field behind `lock`
    /// How long a watch may stay broken (the API unreachable, every relist failing) before weftd says it
    /// no longer knows the cluster: attaches are refused (the plugin isolates or refuses the pod) and
    /// /healthz fails. A watch the API server ends (every 30–60 minutes) lists again within a second.
    public static let brokenBound: Duration = .seconds(60)

    private let lock = NSLock()
    private var isSynced = false
    private var unreadableText: String?
    private var applyErrorText: String?
    private var brokenSince: [String: ContinuousClock.Instant] = [:]
    private var brokenBy: [String: String] = [:]
    private var syncObservers: [@Sendable () -> Void] = []

    public init() {}

    var synced: Bool {
        get { lock.withLock { isSynced } }
        set {
            let observers = lock.withLock { () -> [@Sendable () -> Void] in
                defer { isSynced = newValue }
                return isSynced == newValue ? [] : syncObservers
            }
            for observer in observers { observer() }
        }
    }

    /// Called when the first sync is in the kernel (NodeReadiness asks its policy gate again).
    public func onSyncChange(_ observer: @escaping @Sendable () -> Void) {
        lock.withLock { syncObservers.append(observer) }
    }
    /// The first object weftd cannot read, described.
    var unreadable: String? {
        get { lock.withLock { unreadableText } }
        set { lock.withLock { unreadableText = newValue } }
    }
    var applyError: String? {
        get { lock.withLock { applyErrorText } }
        set { lock.withLock { applyErrorText = newValue } }
    }

    /// A list or watch failed (it is retried after a backoff): broken from now, unless it already was;
    /// the latest error is what /healthz reports once the bound passes.
    func watchBroke(_ kind: String, _ error: Error? = nil, at now: ContinuousClock.Instant = .now) {
        lock.withLock {
            if brokenSince[kind] == nil { brokenSince[kind] = now }
            if let error { brokenBy[kind] = "\(error)" }
        }
    }

    /// A watch listed again, or resumed and delivered: it knows every object of its kind.
    func watchListed(_ kind: String) {
        lock.withLock {
            brokenSince[kind] = nil
            brokenBy[kind] = nil
        }
    }

    public func current(at now: ContinuousClock.Instant = .now) -> (healthy: Bool, reason: String) {
        lock.withLock {
            if !isSynced { return (false, "NetworkPolicy: not synced with the API yet") }
            if let unreadableText { return (false, "NetworkPolicy: an object weftd cannot read: \(unreadableText)") }
            if let applyErrorText { return (false, "NetworkPolicy: the policy table was not written: \(applyErrorText)") }
            if let (kind, since) = brokenSince.min(by: { $0.value < $1.value }), now - since > Self.brokenBound {
                return (
                    false,
                    "NetworkPolicy: the \(kind) watch has been broken for \(Int((now - since).seconds)) s "
                        + "(bound \(Int(Self.brokenBound.seconds)) s)\(brokenBy[kind].map { ": \($0)" } ?? "")"
                )
            }
            return (true, "ok")
        }
    }

    public var current: (healthy: Bool, reason: String) { current() }
}
