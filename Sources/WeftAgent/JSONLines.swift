import Foundation

/// A stream of newline-separated JSON objects (an etcd gateway watch, a Kubernetes watch) cut into
/// objects as chunks arrive; a line that is not a JSON object is skipped.
struct JSONLines {
    private var pending: [UInt8] = []

    mutating func feed<Bytes: Sequence>(_ chunk: Bytes) -> [[String: Any]] where Bytes.Element == UInt8 {
        pending += chunk
        var objects: [[String: Any]] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] { objects.append(object) }
        }
        return objects
    }
}
