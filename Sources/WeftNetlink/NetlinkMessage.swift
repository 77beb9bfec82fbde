/// A received netlink message as a plain value: header fields and the payload after the header.
public struct NetlinkMessage: Equatable, Sendable {
    public static let headerSize = 16

    public let type: UInt16
    public let flags: UInt16
    public let sequence: UInt32
    public let portID: UInt32
    public let payload: [UInt8]

    /// Splits one datagram into its messages; a truncated tail is dropped, as the kernel never sends one.
    public static func split(_ datagram: [UInt8]) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while let length = datagram.loadInteger(UInt32.self, at: offset).map(Int.init),
            length >= headerSize, offset + length <= datagram.count,
            let type = datagram.loadInteger(UInt16.self, at: offset + 4),
            let flags = datagram.loadInteger(UInt16.self, at: offset + 6),
            let sequence = datagram.loadInteger(UInt32.self, at: offset + 8),
            let portID = datagram.loadInteger(UInt32.self, at: offset + 12)
        {
            messages.append(
                NetlinkMessage(
                    type: type, flags: flags, sequence: sequence, portID: portID,
                    payload: Array(datagram[(offset + headerSize)..<(offset + length)])))
            offset += align4(length)
        }
        return messages
    }
}

/// One netlink attribute: its type (without the NESTED and BYTEORDER flag bits) and its value bytes.
public struct NetlinkAttribute: Equatable, Sendable {
    public let type: UInt16
    public let value: [UInt8]

    /// The attributes packed in `bytes` from `offset` on.
    public static func parse(_ bytes: [UInt8], from offset: Int = 0) -> [NetlinkAttribute] {
        var attributes: [NetlinkAttribute] = []
        var cursor = offset
        while let length = bytes.loadInteger(UInt16.self, at: cursor).map(Int.init), length >= 4,
            cursor + length <= bytes.count, let rawType = bytes.loadInteger(UInt16.self, at: cursor + 2)
        {
            let type = rawType & 0x3fff
            attributes.append(NetlinkAttribute(type: type, value: Array(bytes[(cursor + 4)..<(cursor + length)])))
            cursor += align4(length)
        }
        return attributes
    }

    public var u8: UInt8? { value.count >= 1 ? value[0] : nil }
    public var u32: UInt32? { value.loadInteger(UInt32.self, at: 0) }
    public var int32: Int32? { value.loadInteger(Int32.self, at: 0) }
    public var u64: UInt64? { value.loadInteger(UInt64.self, at: 0) }
    /// A NUL-terminated string attribute.
    public var string: String { String(decoding: value.prefix { $0 != 0 }, as: UTF8.self) }
    public var nested: [NetlinkAttribute] { NetlinkAttribute.parse(value) }
}

extension Array where Element == NetlinkAttribute {
    public func first(_ type: Int) -> NetlinkAttribute? { first { $0.type == UInt16(type) } }
}

func align4(_ length: Int) -> Int { (length + 3) & ~3 }

extension Array where Element == UInt8 {
    /// Reads a host-order integer at a byte offset (netlink carries host byte order); nil when the bytes
    /// end before it does, so a short reply never reads as a zero index, handle or errno.
    func loadInteger<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset + MemoryLayout<T>.size <= count else { return nil }
        return withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
