import Foundation
import Logging
import ServiceLifecycle
import Testing
import WeftAgent

/// weftd's run loop (WeftdServiceGroup) with recording parts in place of the real ones.
@Suite(.timeLimit(.minutes(2)))
struct WeftdServiceGroupTests {
    final class Journal: @unchecked Sendable {  // `entries` behind `lock`
        private let lock = NSLock()
        private var entries: [String] = []
        func add(_ entry: String) { lock.withLock { entries.append(entry) } }
        var all: [String] { lock.withLock { entries } }

        /// Until `entry` is recorded (parts start concurrently). No deadline of its own: beside the
        /// privileged suites' blocking waits the cooperative pool may not run the parts for many
        /// seconds; the tests' time limit bounds it.
        func wait(for entry: String) async throws {
            while !all.contains(entry) { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    /// A part that runs until cancelled, as the lease agent and the watches do: it records its start
    /// and its cancellation (the CancellationError it throws is the stop, not a failure).
    static func runner(_ name: String, _ journal: Journal) -> @Sendable () async throws -> Void {
        {
            journal.add("\(name) running")
            do { try await Task.sleep(for: .seconds(3600)) } catch {
                journal.add("\(name) stopped")
                throw error
            }
        }
    }

    /// weftd's own list (WeftdParts.services) with recording parts.
    static func parts(_ journal: Journal, lease: (@Sendable () async throws -> Void)? = nil) -> [any Service] {
        var parts = WeftdParts()
        parts.connections = { journal.add("connections closed") }
        parts.statusServer = { journal.add("status server closed") }
        parts.lease = lease ?? runner("lease", journal)
        parts.fabric = runner("fabric", journal)
        parts.policyAgent = runner("policy agent", journal)
        parts.policySocket = { journal.add("policy socket closed") }
        parts.readiness = runner("node readiness", journal)
        parts.shutdownNotice = { journal.add("shutdown notice said") }
        return parts.services
    }

    /// A graceful shutdown (what SIGTERM and SIGINT trigger) stops the parts in reverse start order,
    /// each after the one started after it, and the group ends without an error (weftd exits 0).
    @Test func gracefulShutdownStopsThePartsInReverseOrder() async throws {
        let journal = Journal()
        let group = WeftdServiceGroup.make(Self.parts(journal), logger: Logger(label: "test"), signals: [], bound: nil)
        let running = Task { try await group.run() }
        for name in ["lease", "fabric", "policy agent", "node readiness"] { try await journal.wait(for: "\(name) running") }
        #expect(!journal.all.contains { $0.hasSuffix("stopped") || $0.hasSuffix("closed") || $0.hasSuffix("said") }, "\(journal.all)")
        await group.triggerGracefulShutdown()
        try await running.value
        let stops = journal.all.filter { !$0.hasSuffix("running") }
        #expect(
            stops == [
                "shutdown notice said", "node readiness stopped", "policy socket closed", "policy agent stopped", "fabric stopped",
                "lease stopped", "status server closed", "connections closed",
            ])
    }

    /// A part that fails stops the others the same way, and the group throws its error (weftd exits 1);
    /// cancellation errors are swallowed only when the group stopped the part (the test above).
    @Test func aFailingPartStopsTheOthersAndItsErrorIsThrown() async throws {
        let journal = Journal()
        let failing: @Sendable () async throws -> Void = {
            try await journal.wait(for: "node readiness running")
            throw AgentError(.leaseLost, "subnet taken")
        }
        let group = WeftdServiceGroup.make(Self.parts(journal, lease: failing), logger: Logger(label: "test"), signals: [], bound: nil)
        await #expect(throws: AgentError.self) { try await group.run() }
        let stops = journal.all.filter { !$0.hasSuffix("running") }
        #expect(
            stops == [
                "shutdown notice said", "node readiness stopped", "policy socket closed", "policy agent stopped", "fabric stopped",
                "status server closed", "connections closed",
            ])
    }
}
