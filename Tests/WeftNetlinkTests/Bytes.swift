import WeftNetlink

/// Little helpers to write netlink bytes by hand in tests (host order, which netlink uses).
func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
    let length = 4 + value.count
    let padding = [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    return le16(UInt16(length)) + le16(type) + value + padding
}

func message(type: UInt16, flags: UInt16, sequence: UInt32, payload: [UInt8]) -> [UInt8] {
    le32(UInt32(16 + payload.count)) + le16(type) + le16(flags) + le32(sequence) + le32(0) + payload
}

/// A transport that records what is sent and replays canned datagrams.
final class ReplayTransport: NetlinkTransport {
    var sent: [[UInt8]] = []
    var replies: [[UInt8]]

    init(replies: [[UInt8]]) { self.replies = replies }

    func send(_ bytes: [UInt8]) throws { sent.append(bytes) }

    func receive() throws -> [UInt8] {
        guard !replies.isEmpty else { throw NetlinkError("replay exhausted", errno: 61) }
        return replies.removeFirst()
    }
}
