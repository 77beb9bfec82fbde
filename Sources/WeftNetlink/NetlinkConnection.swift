import CMnl

/// Request/response over a transport: every request asks for an ack, replies are matched by
/// sequence number, and an error reply becomes a NetlinkError carrying the kernel's text.
public final class NetlinkConnection {
    private let transport: NetlinkTransport
    private var nextSequence: UInt32

    public init(transport: NetlinkTransport, firstSequence: UInt32 = 1) {
        self.transport = transport
        nextSequence = firstSequence
    }

    /// Sends `request` and returns the data messages the kernel answered with before its ack (or NLMSG_DONE).
    @discardableResult
    public func execute(_ request: NetlinkRequest, operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        let sequence = reserveSequences(1)
        request.sequence = sequence
        let isDump = (Int32(request.flags) & NLM_F_DUMP) == NLM_F_DUMP
        return try exchange(request.bytes, sequence: sequence, isDump: isDump,
                            ackRequested: (Int32(request.flags) & NLM_F_ACK) != 0, operation: operation())
    }

    /// Hands out `count` consecutive sequence numbers for messages built elsewhere.
    public func reserveSequences(_ count: UInt32) -> UInt32 {
        let first = nextSequence
        nextSequence &+= count
        return first
    }

    /// The next sequence number, for a batch builder that numbers its own messages; `advance(to:)` after it.
    public var peekSequence: UInt32 { nextSequence }

    public func advance(to sequence: UInt32) { nextSequence = sequence }

    /// Sends one message already laid out in `bytes` with `sequence` and collects its replies.
    public func exchange(_ bytes: [UInt8], sequence: UInt32, isDump: Bool, ackRequested: Bool, operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        try transport.send(bytes)
        var replies: [NetlinkMessage] = []
        while true {
            for message in NetlinkMessage.split(try transport.receive()) where message.sequence == sequence {
                switch Int32(message.type) {
                case weft_nlmsg_error:
                    let code = message.payload.loadInteger(Int32.self, at: 0)
                    if code == 0 { return replies }
                    throw NetlinkError(operation(), errno: -code, kernelMessage: Self.extendedAckMessage(message))
                case weft_nlmsg_done:
                    return replies
                default:
                    replies.append(message)
                    if !isDump && (Int32(message.flags) & NLM_F_MULTI) == 0 && !ackRequested {
                        return replies
                    }
                }
            }
        }
    }

    /// Sends a batch (several messages in one datagram) and waits for the ack of every message in
    /// `acks`, keyed by sequence number with a description for errors. The first error fails the whole
    /// batch: the kernel applies a netfilter batch all or nothing.
    public func exchangeBatch(_ bytes: [UInt8], acks: [UInt32: String]) throws {
        try transport.send(bytes)
        var pending = Set(acks.keys)
        while !pending.isEmpty {
            for message in NetlinkMessage.split(try transport.receive()) where pending.contains(message.sequence) {
                guard Int32(message.type) == weft_nlmsg_error else { continue }
                let code = message.payload.loadInteger(Int32.self, at: 0)
                if code != 0 {
                    throw NetlinkError(acks[message.sequence] ?? "netfilter batch", errno: -code,
                                       kernelMessage: Self.extendedAckMessage(message))
                }
                pending.remove(message.sequence)
            }
        }
    }

    /// The NLMSGERR_ATTR_MSG text of an error reply. With NETLINK_CAP_ACK the payload is the errno,
    /// the original request's header only, then the extended-ack attributes.
    static func extendedAckMessage(_ message: NetlinkMessage) -> String? {
        guard (Int32(message.flags) & NLM_F_ACK_TLVS) != 0 else { return nil }
        let attributes = NetlinkAttribute.parse(message.payload, from: 4 + NetlinkMessage.headerSize)
        return attributes.first(Int(NLMSGERR_ATTR_MSG.rawValue))?.string
    }
}
