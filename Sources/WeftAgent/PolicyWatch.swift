import Foundation
import Logging

/// One kind of API object followed as an informer does: list (every object and the list's
/// resourceVersion), then watch from that version; a watch that breaks, or an expired version
/// (410 Gone, as an ERROR event or a failed request), lists again after a backoff (0.2 s doubling to
/// 5 s), so nothing missed meanwhile is lost.
struct PolicyWatch: Sendable {
    // JSONSerialization's objects, handed over once and never mutated.
    enum Event: @unchecked Sendable {
        /// Every object, replacing what was known (the first list and every relist).
        case listed([[String: Any]])
        case upserted([String: Any])
        case deleted([String: Any])
    }

    let client: KubeClient
    /// The collection's path, as "/api/v1/pods".
    let path: String
    let logger: Logger

    func run(restarts: @escaping @Sendable () -> Void, deliver: @escaping @Sendable (Event) async -> Void) async {
        var backoff = 0.2
        while !Task.isCancelled {
            do {
                let list = try await client.call(path)
                let items = (list["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
                let version = (list["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? ""
                await deliver(.listed(items))
                backoff = 0.2
                let encoded = version.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? version
                for try await line in client.watchLines("\(path)?watch=true&allowWatchBookmarks=true&resourceVersion=\(encoded)") {
                    let type = line["type"] as? String ?? ""
                    guard let object = line["object"] as? [String: Any] else { continue }
                    if type == "ERROR" {
                        throw AgentError(.engine, "watch \(path): \(object["message"] as? String ?? "error") (code \(object["code"] as? Int ?? 0))")
                    }
                    switch type {
                    case "ADDED", "MODIFIED": await deliver(.upserted(object))
                    case "DELETED": await deliver(.deleted(object))
                    default: continue  // BOOKMARK: nothing changed
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("watch broke: listing again", metadata: ["path": "\(path)", "error": "\(error)", "retryIn": "\(backoff)s"])
            }
            restarts()
            try? await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
            backoff = min(backoff * 2, 5)
        }
    }
}
