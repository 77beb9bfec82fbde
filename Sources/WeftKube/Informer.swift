import Foundation
import Logging

/// One kind of API object followed as client-go's reflector does, the one list-and-watch of weftd
/// (Pods, Namespaces, NetworkPolicies for PolicyAgent; Nodes for the kube lease engine):
/// - list in pages (`limit` + `continue`: one unpaginated reply grows with the cluster), keeping the
///   list's resourceVersion;
/// - watch from it with `timeoutSeconds` (5–10 minutes, random, so watches do not all end together)
///   and bookmarks, and after a normal close or a transient failure watch again from the last
///   resourceVersion seen (an object's or a BOOKMARK's): nothing is listed again;
/// - list again only when the API says the version is gone (410, as the reply or an ERROR event);
/// - a stream silent past timeoutSeconds + `idleMargin` is dead (a dropped connection): watch again;
/// - bounded: a reply or a line past KubeClient.maxBody fails with an error naming the cap;
/// - failures are retried after a backoff of 0.2 s doubling to 5 s.
public struct Informer: Sendable {
    // JSONSerialization's objects, handed over once and never mutated.
    public enum Event: @unchecked Sendable {
        /// A list begins: the pages that follow are, once `listEnded` comes, every object there is.
        case listStarted
        /// One page of the list, handed over as it arrives: a cluster's worth of JSON objects is never
        /// held at once (at 20,000 pods that alone was hundreds of MiB).
        case listedPage([[String: Any]])
        /// The list is whole: what it did not name is gone.
        case listEnded
        case upserted([String: Any])
        case deleted([String: Any])
    }

    /// What the owner hears about the informer's state (PolicyHealth, metrics).
    public struct Hooks: Sendable {
        /// A list or watch failed (it is retried): the owner no longer knows it is current.
        let broke: @Sendable (Error) -> Void
        /// Current again: listed, or a watch resumed and delivered (or stayed open and quiet).
        let recovered: @Sendable () -> Void

        public init(broke: @escaping @Sendable (Error) -> Void = { _ in }, recovered: @escaping @Sendable () -> Void = {}) {
            self.broke = broke
            self.recovered = recovered
        }
    }

    let client: KubeClient
    /// The collection's path, as "/api/v1/pods".
    let path: String
    public var logger = Logger(label: "weft.informer")
    var pageSize = 500
    var watchSeconds: ClosedRange<Int> = 300...600
    var idleMargin: Duration = .seconds(30)
    /// The API's fieldSelector for both the list and the watch ("metadata.name=node-1": one Node, not the
    /// cluster's): the server then sends only those objects, and a delete event when one stops matching.
    public var fieldSelector: String?
    /// Requests made, for tests and metrics: lists (whole lists, each of `pages` pages) and watches.
    let counters = InformerCounters()

    public init(client: KubeClient, path: String) {
        self.client = client
        self.path = path
    }

    /// Lists, then follows until cancelled, listing again when the version is gone.
    public func run(_ hooks: Hooks = Hooks(), deliver: @escaping @Sendable (Event) async -> Void) async {
        var backoff = Backoff()
        while !Task.isCancelled {
            do {
                await deliver(.listStarted)
                let version = try await list { page in await deliver(.listedPage(page)) }
                await deliver(.listEnded)
                hooks.recovered()
                backoff = Backoff()
                try await follow(from: version, hooks, deliver: deliver)
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("list failed or the version is gone: listing again", metadata: ["path": "\(path)", "error": "\(error)"])
                hooks.broke(error)
                await backoff.wait()
            }
        }
    }

    /// Every object and the list's resourceVersion, collected (for small collections: Nodes).
    public func list() async throws -> (items: [[String: Any]], version: String) {
        var items: [[String: Any]] = []
        let version = try await list { items += $0 }
        return (items, version)
    }

    /// The list's resourceVersion; its objects handed to `onPage`, `pageSize` at a time. A page past the
    /// reply cap is asked again with half the limit; an expired continue token (410) throws InformerGone.
    func list(onPage: ([[String: Any]]) async -> Void) async throws -> String {
        counters.add(lists: 1)
        var next: String?
        var limit = pageSize
        repeat {
            var query = "\(path)?limit=\(limit)\(selectorQuery)"
            if let next { query += "&continue=\(Self.encoded(next))" }
            let page: [String: Any]
            do {
                counters.add(pages: 1)
                page = try await client.call(query)
            } catch let error as KubeReplyTooLarge {
                guard limit > 1 else { throw error }
                limit /= 2
                continue
            } catch let error as KubeAPIError where error.status == 410 {
                throw InformerGone(description: "\(error)")
            }
            await onPage(try Self.items(of: page, path: path))
            let metadata = page["metadata"] as? [String: Any] ?? [:]
            next = (metadata["continue"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            if next == nil {
                guard let version = metadata["resourceVersion"] as? String, !version.isEmpty else {
                    throw KubeError(.kubeAPI, "list \(path): no resourceVersion to watch from")
                }
                return version
            }
        } while !Task.isCancelled
        throw CancellationError()
    }

    /// A page's objects. Not one is skipped: an item that is not an object, or a reply without `items`
    /// (a Status, say), fails the list, which is retried and reported (`Hooks.broke`) as a watch line
    /// weftd cannot read is; read as fewer objects it would delete what it did not name, a policy
    /// among them. `items: null` is an empty page (Go writes an empty slice so).
    static func items(of page: [String: Any], path: String) throws -> [[String: Any]] {
        guard let value = page["items"] else { throw KubeError(.kubeAPI, "list \(path): a reply without items") }
        if value is NSNull { return [] }
        guard let items = value as? [Any] else { throw KubeError(.kubeAPI, "list \(path): items is not a list") }
        return try items.enumerated().map { index, item in
            guard let object = item as? [String: Any] else { throw KubeError(.kubeAPI, "list \(path): items[\(index)] is not an object") }
            return object
        }
    }

    /// Watches from `version` until cancelled, resuming after every close or transient failure;
    /// throws InformerGone when the version is gone (the caller lists again).
    public func follow(from version: String, _ hooks: Hooks = Hooks(), deliver: @escaping @Sendable (Event) async -> Void) async throws {
        var version = version
        var backoff = Backoff()
        while !Task.isCancelled {
            let watch = InformerWatch(informer: self, hooks: hooks, deliver: deliver)
            do {
                let outcome = try await watch.run(from: version)
                version = outcome.version
                // A close right away with nothing said is a failure in disguise: no tight loop.
                if outcome.quick { await backoff.wait() } else { backoff = Backoff() }
            } catch let error as InformerGone {
                throw error
            } catch {
                if Task.isCancelled { return }
                version = watch.version ?? version
                logger.warning("watch broke: resuming", metadata: ["path": "\(path)", "error": "\(error)", "resourceVersion": "\(version)"])
                hooks.broke(error)
                await backoff.wait()
            }
        }
    }

    /// "&fieldSelector=…", percent-encoded, or nothing.
    var selectorQuery: String { fieldSelector.map { "&fieldSelector=\(Self.encoded($0))" } ?? "" }

    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}

/// The API no longer has the resourceVersion asked for (410 Gone): only a new list can go on.
public struct InformerGone: Error, CustomStringConvertible {
    public let description: String
}

/// 0.2 s doubling to 5 s.
struct Backoff {
    private(set) var seconds = 0.2

    mutating func wait() async {
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        seconds = min(seconds * 2, 5)
    }
}

final class InformerCounters: @unchecked Sendable {  // every field behind `lock`
    private let lock = NSLock()
    private var counts = (lists: 0, pages: 0, watches: 0)

    var lists: Int { lock.withLock { counts.lists } }
    var pages: Int { lock.withLock { counts.pages } }
    var watches: Int { lock.withLock { counts.watches } }

    func add(lists: Int = 0, pages: Int = 0, watches: Int = 0) {
        lock.withLock { counts = (counts.lists + lists, counts.pages + pages, counts.watches + watches) }
    }
}
