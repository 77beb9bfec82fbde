/// Runs a kernel change the kernel refused again on a timer, not on the next API or lease event (a
/// quiet cluster may send none for hours): after `first`, then twice as long each time it still fails,
/// up to `longest`. A success by any path (an event's reconcile, say) ends the series; the next
/// failure starts a new one from `first`.
public struct RetryTimer: Sendable {
    public let first: Duration
    public let longest: Duration
    private let requests: AsyncStream<Void>
    private let requested: AsyncStream<Void>.Continuation

    public init(first: Duration = .milliseconds(500), longest: Duration = .seconds(30)) {
        self.first = first
        self.longest = longest
        // One pending request is enough: each wakes the series, which asks `failing` itself.
        (requests, requested) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A change failed: starts a series unless one is running.
    public func failed() { requested.yield() }

    /// Until cancelled (one caller): waits for a failure, then calls `retry` on the timer while `failing`.
    public func run(failing: @Sendable () async -> Bool, retry: @Sendable () async -> Void) async {
        for await _ in requests {
            var delay = first
            while await failing() {
                do { try await Task.sleep(for: delay) } catch { return }
                guard await failing() else { break }
                await retry()
                delay = min(delay * 2, longest)
            }
        }
    }
}
