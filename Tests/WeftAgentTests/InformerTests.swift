import Foundation
import Testing
@testable import WeftAgent
@testable import WeftKube
import WeftTestSupport

/// What an Informer delivered, collected for assertions.
final class Delivered: @unchecked Sendable {  // behind `lock`
    private let lock = NSLock()
    private var lists: [Int] = []
    private var names = Set<String>()
    private var errors: [String] = []
    private var listing: [String]?
    private var biggestPage = 0

    func take(_ event: Informer.Event) {
        lock.withLock {
            switch event {
            case .listStarted:
                listing = []
            case .listedPage(let items):
                biggestPage = max(biggestPage, items.count)
                listing? += items.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
            case .listEnded:
                lists.append(listing?.count ?? -1)
                names = Set(listing ?? [])
                listing = nil
            case .upserted(let object):
                if let name = (object["metadata"] as? [String: Any])?["name"] as? String { names.insert(name) }
            case .deleted: break
            }
        }
    }
    func broke(_ error: Error) { lock.withLock { errors.append("\(error)") } }
    var listed: [Int] { lock.withLock { lists } }
    /// The most objects handed over at once.
    var largestPage: Int { lock.withLock { biggestPage } }
    var count: Int { lock.withLock { names.count } }
    var failures: [String] { lock.withLock { errors } }
}

/// Waits until `condition` holds. Generous: it returns as soon as it holds, and on a loaded machine
/// synchronous tests running beside these can hold both of the concurrency pool's threads for minutes
/// (CI runs make test beside make e2e).
func eventually(_ what: String, timeout: Double = 300, _ condition: () throws -> Bool) async throws {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out waiting for \(what)")
}

/// The one list-and-watch of weftd against a fake API: pages, resume without relist after a close,
/// relist on 410 only, a line over the cap refused and reported, a rotated token followed.
@Suite(.serialized)
struct InformerTests {
    func withServer(_ body: (FakeKubeAPI, KubeClient) async throws -> Void) async throws {
        let server = try FakeKubeAPI(collections: ["/api/v1/pods"])
        defer { server.cleanup() }
        let client = try KubeClient(credentials: KubeCredentials(server: server.server))
        do { try await body(server, client) } catch { await client.shutdown(); throw error }
        await client.shutdown()
    }

    func start(_ informer: Informer, _ delivered: Delivered, health: PolicyHealth? = nil) -> Task<Void, Never> {
        let hooks = Informer.Hooks(
            broke: {
                delivered.broke($0); health?.watchBroke("pods", $0)
            },
            recovered: { health?.watchListed("pods") })
        return Task { await informer.run(hooks) { delivered.take($0) } }
    }

    @Test func aClosedWatchResumesFromTheLastVersionAndOnlyA410ListsAgain() async throws {
        try await withServer { server, client in
            try server.control("add?collection=/api/v1/pods&count=1200")
            var informer = Informer(client: client, path: "/api/v1/pods")
            informer.watchSeconds = 1...1
            let delivered = Delivered()
            let task = start(informer, delivered)
            defer { task.cancel() }
            try await eventually("the list") { delivered.listed == [1200] }
            #expect(informer.counters.pages == 3)  // 500 + 500 + 200
            try server.control("add?collection=/api/v1/pods&count=1")
            try await eventually("three watches and the new pod") { informer.counters.watches >= 3 && delivered.count == 1201 }
            #expect(informer.counters.lists == 1 && delivered.listed == [1200])
            let watches = try server.requests().map(\.path).filter { $0.contains("watch=true") }
            // Each resumes from the last version seen: the list's (1300), then the new pod's (1301).
            #expect(watches.first?.contains("resourceVersion=1300") == true && watches.last?.contains("resourceVersion=1301") == true)
            #expect(watches.allSatisfy { $0.contains("resourceVersion=1300") || $0.contains("resourceVersion=1301") })
            #expect(watches.allSatisfy { $0.contains("allowWatchBookmarks=true") && $0.contains("timeoutSeconds=1") })

            // Gone as an ERROR event (the version compacted), then as HTTP 410: each lists again.
            try server.control("compact")
            try await eventually("a relist after the ERROR 410") { delivered.listed.count == 2 }
            try server.control("gone-http")
            try await eventually("a relist after HTTP 410") { delivered.listed.count == 3 }
            #expect(informer.counters.lists == 3 && delivered.listed == [1200, 1201, 1201])
            let lists = try server.requests().map(\.path).filter { !$0.contains("watch=true") && $0.hasPrefix("/api/v1/pods") }
            #expect(lists.count == 9)  // three lists of three pages each
        }
    }

    @Test func aLineOverTheCapFailsTheWatchAndHealthSaysSo() async throws {
        try await withServer { server, client in
            var informer = Informer(client: client, path: "/api/v1/pods")
            informer.watchSeconds = 5...5
            let delivered = Delivered()
            let health = PolicyHealth()
            health.synced = true
            let task = start(informer, delivered, health: health)
            defer { task.cancel() }
            try await eventually("the list") { delivered.listed == [0] }
            try server.control("bigline?bytes=\(KubeClient.maxBody + (1 << 20))")
            // The running watch ends after 5 s; the next one meets the line.
            try await eventually("the watch refused the line") { delivered.failures.contains { $0.contains("16 MiB cap") } }
            let verdict = health.current(at: .now + .seconds(61))
            #expect(!verdict.healthy && verdict.reason.contains("16 MiB cap"), "\(verdict.reason)")
            // The API's error, named so: not the subnet engine's (etcd's) wording.
            #expect(verdict.reason.contains("Kubernetes API: a watch line") && !verdict.reason.contains("subnet engine"), "\(verdict.reason)")
        }
    }

    @Test func aSilentWatchIsEndedByTheIdleDeadlineAndResumed() async throws {
        try await withServer { server, client in
            var informer = Informer(client: client, path: "/api/v1/pods")
            informer.watchSeconds = 1...1
            informer.idleMargin = .seconds(1)
            let delivered = Delivered()
            let task = start(informer, delivered)
            defer { task.cancel() }
            try await eventually("the list") { delivered.listed == [0] }
            try server.control("hang")
            // timeoutSeconds (1) + the margin (1) without a byte: cancelled, and watched again.
            try await eventually("two idle deadlines") { delivered.failures.filter { $0.contains("idle deadline") }.count >= 2 }
            #expect(delivered.failures.allSatisfy { !$0.contains("subnet engine") }, "\(delivered.failures)")
            #expect(informer.counters.lists == 1)
        }
    }

    @Test func aRewrittenTokenIsSentAndA401ReadsTheFileAgainOnce() async throws {
        try await withServer { server, _ in
            let file = "\(server.directory)/token"
            try "token-a\n".write(toFile: file, atomically: true, encoding: .utf8)
            var credentials = KubeCredentials(server: server.server)
            credentials.token = "token-a"
            credentials.tokenFile = file
            let client = try KubeClient(credentials: credentials)
            // Shut down on every path: a 401 thrown must fail the test, not crash it.
            do {
                _ = try await client.call("/api/v1/pods")

                // kubelet's way: a new file swapped in. The next request carries it.
                try "token-b\n".write(toFile: file, atomically: true, encoding: .utf8)
                try server.control("accept?token=token-b")
                _ = try await client.call("/api/v1/pods")

                // Rewritten in place with the same size and mtime: unseen until the 401, then read once.
                var before = stat()
                stat(file, &before)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
                try handle.write(contentsOf: Data("token-c\n".utf8))
                try handle.close()
                var times = [before.st_atim, before.st_mtim]
                utimensat(AT_FDCWD, file, &times, 0)
                try server.control("accept?token=token-c")
                _ = try await client.call("/api/v1/pods")
            } catch {
                await client.shutdown()
                throw error
            }
            await client.shutdown()
            let seen = try server.requests().map(\.authorization)
            #expect(seen == ["Bearer token-a", "Bearer token-b", "Bearer token-b", "Bearer token-c"])
        }
    }

    @Test func aKubeconfigTokenFileIsKeptToBeReadAgain() throws {
        let directory = "/tmp/weft-test-tokenfile-\(String(UUID().uuidString.prefix(8)).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "secret\n".write(toFile: "\(directory)/token", atomically: true, encoding: .utf8)
        let yaml = """
            current-context: x
            clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
            users: [{name: u, user: {tokenFile: token}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            """
        let credentials = try KubeCredentials.parse(kubeconfig: yaml, directory: directory)
        #expect(credentials.token == "secret" && credentials.tokenFile == "\(directory)/token")
    }
}
