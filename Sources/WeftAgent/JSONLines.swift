import Foundation

/// A stream of newline-separated JSON objects (an etcd gateway watch, a Kubernetes watch) cut into
/// lines as chunks arrive. Bounded: a line longer than `maxLine` throws instead of growing the buffer,
/// and each byte is scanned for the newline once (a long line in small chunks stays linear).
struct JSONLines {
    let maxLine: Int
    /// Whose stream it is, for the error: `.engine` (etcd) or `.kubeAPI` (an Informer's watch).
    let source: AgentError.Kind
    private var pending: [UInt8] = []
    /// How much of `pending` is known to hold no newline.
    private var scanned = 0

    init(maxLine: Int = KubeClient.maxBody, source: AgentError.Kind = .engine) {
        self.maxLine = maxLine
        self.source = source
    }

    /// The complete lines so far (without their newline).
    mutating func lines<Bytes: Sequence>(_ chunk: Bytes) throws -> [Data] where Bytes.Element == UInt8 {
        pending += chunk
        var lines: [Data] = []
        var start = 0
        while let newline = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Data(pending[start..<newline]))
            start = newline + 1
            scanned = start
        }
        if start > 0 {
            pending.removeSubrange(..<start)
        }
        scanned = pending.count
        guard pending.count <= maxLine else {
            throw AgentError(source, "a watch line passes weftd's \(maxLine >> 20) MiB cap (\(pending.count) bytes without a newline)")
        }
        return lines
    }
}
