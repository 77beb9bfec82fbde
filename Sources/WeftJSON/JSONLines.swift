import Foundation

/// A stream of newline-separated JSON objects (an etcd gateway watch, a Kubernetes watch) cut into
/// lines as chunks arrive. Bounded: a line longer than `maxLine` throws instead of growing the buffer,
/// and each byte is scanned for the newline once (a long line in small chunks stays linear).
public struct JSONLines {
    let maxLine: Int
    /// The stream owner's error for a line past `maxLine` (etcd's or the Kubernetes API's), given the message.
    let failure: (String) -> any Error
    private var pending: [UInt8] = []
    /// How much of `pending` is known to hold no newline.
    private var scanned = 0

    public init(maxLine: Int, failure: @escaping (String) -> any Error) {
        self.maxLine = maxLine
        self.failure = failure
    }

    /// The complete lines so far (without their newline).
    public mutating func lines<Bytes: Sequence>(_ chunk: Bytes) throws -> [Data] where Bytes.Element == UInt8 {
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
            throw failure("a watch line passes weftd's \(maxLine >> 20) MiB cap (\(pending.count) bytes without a newline)")
        }
        return lines
    }
}
