import AsyncHTTPClient
import Foundation
import NIOCore
import WeftJSON

/// One watch request of an Informer: its stream read line by line beside a watchdog that ends it when
/// no byte came for timeoutSeconds + idleMargin. Keeps the last resourceVersion seen, so the next
/// watch resumes from it whether this one ends or fails.
final class InformerWatch: @unchecked Sendable {  // mutable fields behind `lock`
    let informer: Informer
    let hooks: Informer.Hooks
    let deliver: @Sendable (Informer.Event) async -> Void
    private let lock = NSLock()
    private var lastVersion: String?
    private var lastByte = ContinuousClock.now
    private var partialLine = false
    private var recovered = false

    init(informer: Informer, hooks: Informer.Hooks, deliver: @escaping @Sendable (Informer.Event) async -> Void) {
        self.informer = informer; self.hooks = hooks; self.deliver = deliver
    }

    var version: String? { lock.withLock { lastVersion } }

    /// Watches from `version` until the server ends the stream; how it ended (quick: within a second
    /// and without a line) and the version to resume from. Throws InformerGone on 410.
    func run(from version: String) async throws -> (version: String, quick: Bool) {
        lock.withLock { lastVersion = version }
        let seconds = Int.random(in: informer.watchSeconds)
        let idle = Duration.seconds(seconds) + informer.idleMargin
        let path =
            "\(informer.path)?watch=true&allowWatchBookmarks=true&timeoutSeconds=\(seconds)\(informer.selectorQuery)"
            + "&resourceVersion=\(Informer.encoded(version))"
        let began = ContinuousClock.now
        informer.counters.add(watches: 1)
        let response: HTTPClientResponse
        do {
            // The deadline is a last resort behind timeoutSeconds and the idle watchdog.
            response = try await informer.client.stream(path, deadline: .seconds(Int64(seconds) + 2 * Int64(informer.idleMargin.components.seconds) + 5))
        } catch let error as KubeAPIError where error.status == 410 {
            throw InformerGone(description: "\(error)")
        }
        lock.withLock { lastByte = .now }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.read(response) }
            group.addTask { try await self.watchdog(idle: idle) }
            defer { group.cancelAll() }
            // The reader ends first (the server closed) or either throws.
            _ = try await group.next()
        }
        let lines = lock.withLock { recovered }
        return (self.version ?? version, !lines && ContinuousClock.now - began < .seconds(1))
    }

    private func read(_ response: HTTPClientResponse) async throws {
        var lines = JSONLines(maxLine: KubeClient.maxBody) { KubeError(.kubeAPI, $0) }
        for try await chunk in response.body {
            let complete = try lines.lines(chunk.readableBytesView)
            lock.withLock {
                lastByte = .now
                partialLine = chunk.readableBytes > 0 && chunk.readableBytesView.last != UInt8(ascii: "\n")
            }
            for line in complete { try await handle(line) }
        }
    }

    private func handle(_ line: Data) async throws {
        guard let event = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any],
            let type = event["type"] as? String, let object = event["object"] as? [String: Any]
        else {
            // Not skipped: an event weftd cannot read is a change it would miss.
            throw KubeError(.kubeAPI, "watch \(informer.path): a line that is not a watch event (\(line.count) bytes)")
        }
        switch type {
        case "ADDED", "MODIFIED": await deliver(.upserted(object))
        case "DELETED": await deliver(.deleted(object))
        case "BOOKMARK": break
        case "ERROR":
            let status = try DecodedJSON.decode(KubeWatchError.self, from: line, "watch \(informer.path): an ERROR event") { KubeError(.kubeAPI, $0) }.object
            let message = "watch \(informer.path): \(status.summary)"
            if status.code == 410 { throw InformerGone(description: message) }
            throw KubeError(.kubeAPI, message)
        default:
            throw KubeError(.kubeAPI, "watch \(informer.path): an event of unknown type \(type)")
        }
        if let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String, !version.isEmpty {
            lock.withLock { lastVersion = version }
        }
        markRecovered()
    }

    /// The informer is current again once a resumed watch delivered an event, or stayed open a
    /// second with nothing half-received (a quiet kind): not merely when the request was accepted,
    /// since a watch that fails on the same line at every resume would then never look broken.
    private func markRecovered() {
        let first = lock.withLock { () -> Bool in
            defer { recovered = true }
            return !recovered
        }
        if first { hooks.recovered() }
    }

    /// Ends the watch when no byte came for `idle`, and marks a quiet kind current once the watch has
    /// been open a second with nothing for half a second and no line half-received. Sleeps until the
    /// next moment either can become true (a byte that came meanwhile moves it), never on a tick.
    private func watchdog(idle: Duration) async throws {
        let opened = ContinuousClock.now
        while true {
            let (last, partial, isRecovered) = lock.withLock { (lastByte, partialLine, recovered) }
            let now = ContinuousClock.now
            if now - last > idle {
                throw KubeError(.kubeAPI, "watch \(informer.path): no byte for \(Int((now - last).components.seconds)) s (idle deadline)")
            }
            // A half-received line cannot make the watch current here: the line, once whole, does (handle).
            let recovers = !isRecovered && !partial
            if recovers && now - opened > .seconds(1) && now - last > .milliseconds(500) {
                markRecovered()
                continue
            }
            var wake = last + idle
            if recovers { wake = min(wake, max(opened + .seconds(1), last + .milliseconds(500))) }
            // Just past the moment: the checks above are strict.
            try await Task.sleep(until: wake + .milliseconds(1), clock: .continuous)
        }
    }
}
