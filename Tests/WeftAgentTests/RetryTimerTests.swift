import Foundation
import Testing
import WeftAgent

/// The retry timer behind the fabric's reconcile and the policy table's write, with a change that
/// fails a set number of times.
@Suite(.timeLimit(.minutes(10)))
struct RetryTimerTests {
    final class Change: @unchecked Sendable {  // every field behind `lock`
        private let lock = NSLock()
        private var failuresLeft: Int
        private var times: [ContinuousClock.Instant] = []
        init(failures: Int) { failuresLeft = failures }
        var failing: Bool { lock.withLock { failuresLeft > 0 } }
        var attempts: [ContinuousClock.Instant] { lock.withLock { times } }
        func attempt() {
            lock.withLock {
                times.append(.now); failuresLeft -= 1
            }
        }
        func fail(times count: Int) { lock.withLock { failuresLeft = count } }
    }

    /// Retries come on the timer alone, each wait twice the one before (up to the bound), and stop once
    /// the change succeeds; the next failure starts a new series from the first delay.
    @Test func retriesBackOffAndStopOnSuccess() async throws {
        let timer = RetryTimer(first: .milliseconds(20), longest: .milliseconds(80))
        let change = Change(failures: 4)
        let running = Task { await timer.run(failing: { change.failing }, retry: { change.attempt() }) }
        defer { running.cancel() }
        let failedAt = ContinuousClock.now
        timer.failed()
        // No deadline of its own: beside the privileged suites' blocking waits the cooperative pool may not
        // run the timer for minutes (a full suite on 2 cores starved it past a 90 s deadline); the suite's
        // time limit bounds it.
        while change.failing { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!change.failing, "not retried until it succeeded: \(change.attempts.count) attempts")
        let attempts = change.attempts
        #expect(attempts.count == 4)
        let gaps = zip([failedAt] + attempts, attempts).map { $1 - $0 }
        // 20, 40, 80, then 80 (the bound) milliseconds at least; a loaded machine only adds.
        for (gap, least) in zip(gaps, [20, 40, 80, 80]) { #expect(gap >= .milliseconds(least), "\(gaps)") }

        // Succeeded: the timer stays quiet (the attempts above are its positive control).
        try await Task.sleep(for: .milliseconds(300))
        #expect(change.attempts.count == 4)

        change.fail(times: 1)
        let again = ContinuousClock.now
        timer.failed()
        while change.failing { try await Task.sleep(for: .milliseconds(5)) }
        #expect(change.attempts.count == 5)
        if let last = change.attempts.last { #expect(last - again >= .milliseconds(20)) }
    }
}
