import CMnl
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

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

    /// Sends a netfilter transaction (one datagram: batch begin, messages, batch end) and reads its
    /// replies up to the reply to `acked`, its last message and the only one asking for an ack: the kernel
    /// queues every reply of a batch in message order once the batch ran, and answers each failing message
    /// whether or not it asked. An error for any message in `descriptions` fails the transaction (the kernel
    /// applies it all or nothing); the first is thrown, with the kernel's text, once the replies are read,
    /// so none is left for the next request. An error for `begin` is a commit or the batch itself refused:
    /// thrown at once, as nothing else may follow it.
    public func exchangeBatch(_ bytes: [UInt8], begin: UInt32, acked: UInt32, descriptions: [UInt32: String]) throws {
        try transport.send(bytes)
        var failure: NetlinkError?
        while true {
            let datagram: [UInt8]
            do {
                datagram = try transport.receive()
            } catch let error as SystemError where error.errno == ENOBUFS {
                // Only error replies can fill the queue (one ack per batch), so the batch was refused.
                throw failure ?? NetlinkError("netfilter batch (its error replies overflowed the socket)", errno: ENOBUFS)
            }
            for message in NetlinkMessage.split(datagram) where Int32(message.type) == weft_nlmsg_error {
                guard message.sequence == begin || descriptions[message.sequence] != nil else { continue }
                let code = message.payload.loadInteger(Int32.self, at: 0)
                if code != 0 {
                    let error = NetlinkError(descriptions[message.sequence] ?? "netfilter batch", errno: -code,
                                             kernelMessage: Self.extendedAckMessage(message))
                    if message.sequence == begin { throw error }
                    if failure == nil { failure = error }
                }
                if message.sequence == acked {
                    if let failure { throw failure }
                    return
                }
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
