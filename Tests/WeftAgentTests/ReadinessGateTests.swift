import Foundation
import Logging
import Testing
import WeftAgent

/// NodeReadiness in-process: with --services the conflist (the runtime's "network ready") waits for the
/// first Services table in the kernel, as it waits for the fabric and the policy sync.
@Suite(.timeLimit(.minutes(3))) struct ReadinessGateTests {
    /// A gate the test opens.
    final class Gate: @unchecked Sendable {  // `open` behind `lock`
        private let lock = NSLock()
        private var isOpen = false
        func open() { lock.withLock { isOpen = true } }
        var value: Bool { lock.withLock { isOpen } }
    }

    /// Polls without blocking a thread of the cooperative pool the readiness task runs on, with no
    /// deadline of its own: beside the privileged suites' blocking waits the pool may not run the task
    /// for many seconds; the suite's time limit bounds it.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        while !Task.isCancelled {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func theConflistWaitsForTheFirstServicesTable() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-readiness-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = "\(directory)/source.conflist", destination = "\(directory)/10-weft.conflist"
        try #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft"}]}"#.write(toFile: source, atomically: true, encoding: .utf8)
        let services = Gate()
        let readiness = NodeReadiness(
            fabric: { .ready }, policySynced: { true }, servicesSynced: { services.value },
            installer: CNIConfInstaller(source: source, destination: destination), condition: nil,
            logger: Logger(label: "test"), recheckSeconds: 0.05)
        let task = Task { await readiness.run() }
        defer { task.cancel() }

        // Fabric and policy ready, Services not: no conflist, and /healthz says what is missing.
        let waiting = await Self.eventually { readiness.health.reason.contains("Services not synced") }
        #expect(waiting, "\(readiness.health)")
        #expect(!readiness.health.healthy)
        #expect(!FileManager.default.fileExists(atPath: destination))

        // The first table written: the conflist appears (the positive control from the same readiness).
        services.open()
        readiness.changes.notify()
        let installed = await Self.eventually { FileManager.default.fileExists(atPath: destination) }
        #expect(installed, "\(readiness.health)")
        #expect(await Self.eventually { readiness.health.healthy }, "\(readiness.health)")
    }
}
