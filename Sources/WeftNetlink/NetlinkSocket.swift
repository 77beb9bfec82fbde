import CMnl
import SystemPackage
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// One netlink socket of a NetlinkHandle and the only owner of its sequence numbers: every message sent
/// on the socket gets its number here, and replies are matched to it. A request that asks for an ack is
/// answered by the data messages the kernel sends before its ack (or NLMSG_DONE); an error reply becomes a
/// NetlinkError carrying the kernel's extended-ack text. One exchange at a time: a lock keeps two threads
/// from interleaving their messages and replies on the socket.
public final class NetlinkSocket {
    /// A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed while it was walked) is
    /// asked for again, at most this many times in all; the last answer is then taken as it came, as a
    /// dump always was before: DEL and GC list through here and must not fail on a busy node.
    static let dumpAttempts = 8

    private let transport: NetlinkTransport
    private var nextSequence: UInt32 = 1
    private let lock = ThreadLock()
    /// Set when the transport failed mid-exchange (a receive timed out, a send failed): the kernel may
    /// still be answering an abandoned dump on it, so the handle opens a new socket instead.
    public private(set) var isBroken = false

    public init(transport: NetlinkTransport) {
        self.transport = transport
    }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            do {
                return try body()
            } catch let error as NetlinkError {
                throw error
            } catch {
                isBroken = true
                throw error
            }
        }
    }

    /// Sends `request` and returns the data messages the kernel answered with before its ack (or NLMSG_DONE).
    /// A request whose attributes did not fit its buffer is refused before anything is sent.
    @discardableResult
    public func execute(_ request: NetlinkRequest, operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        if let overflow = request.overflow {
            throw NetlinkError.invalid(operation(), "not sent: \(overflow)", code: .messageTooLong)
        }
        let flags = Int32(request.flags)
        return try execute(
            isDump: (flags & NLM_F_DUMP) == NLM_F_DUMP, ackRequested: (flags & NLM_F_ACK) != 0,
            operation: operation()
        ) { sequence in
            request.sequence = sequence
            return request.bytes
        }
    }

    /// Sends one message laid out by `build` for the sequence number it is given (libnftnl writes its own
    /// headers) and collects its replies. A dump the kernel reports as interrupted is built and sent again
    /// under a new number: its replies may have missed or repeated objects.
    public func execute(
        isDump: Bool, ackRequested: Bool, operation: @autoclosure () -> String,
        build: (UInt32) -> [UInt8]
    ) throws -> [NetlinkMessage] {
        try locked {
            for _ in 1..<Self.dumpAttempts {
                let (replies, interrupted) = try exchange(
                    build(reserveSequences(1)), isDump: isDump, ackRequested: ackRequested,
                    operation: operation())
                if !interrupted { return replies }
            }
            return try exchange(
                build(reserveSequences(1)), isDump: isDump, ackRequested: ackRequested,
                operation: operation()
            ).replies
        }
    }

    private func reserveSequences(_ count: UInt32) -> UInt32 {
        let first = nextSequence
        nextSequence &+= count
        return first
    }

    /// Sends one message already laid out in `bytes` (its sequence number at bytes 8-11) and collects its
    /// replies; `interrupted` when any of them carried NLM_F_DUMP_INTR.
    private func exchange(
        _ bytes: [UInt8], isDump: Bool, ackRequested: Bool,
        operation: @autoclosure () -> String
    ) throws -> (replies: [NetlinkMessage], interrupted: Bool) {
        let sequence = bytes.loadInteger(UInt32.self, at: 8) ?? 0
        try transport.send(bytes)
        var replies: [NetlinkMessage] = []
        var interrupted = false
        while true {
            for message in NetlinkMessage.split(try transport.receive()) where message.sequence == sequence {
                if (Int32(message.flags) & NLM_F_DUMP_INTR) != 0 { interrupted = true }
                switch Int32(message.type) {
                case weft_nlmsg_error:
                    let code = message.payload.loadInteger(Int32.self, at: 0) ?? -EPROTO
                    if code == 0 { return (replies, interrupted) }
                    throw NetlinkError(operation(), errno: -code, kernelMessage: Self.extendedAckMessage(message))
                case weft_nlmsg_done:
                    return (replies, interrupted)
                default:
                    replies.append(message)
                    if !isDump && (Int32(message.flags) & NLM_F_MULTI) == 0 && !ackRequested {
                        return (replies, interrupted)
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
    ///
    /// The builder numbers its messages from `begin` on, consecutively; they are renumbered here from this
    /// socket's next sequence number, so that no two messages on the socket share one.
    public func exchangeTransaction(_ bytes: [UInt8], begin: UInt32, acked: UInt32, descriptions: [UInt32: String]) throws {
        try locked { try exchangeTransactionLocked(bytes, begin: begin, acked: acked, descriptions: descriptions) }
    }

    private func exchangeTransactionLocked(_ bytes: [UInt8], begin: UInt32, acked: UInt32, descriptions: [UInt32: String]) throws {
        let (bytes, count) = Self.renumbered(bytes, from: begin, to: nextSequence)
        let base = reserveSequences(count)
        let shift = { (sequence: UInt32) in base &+ (sequence &- begin) }
        let descriptions = Dictionary(descriptions.map { (shift($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        let begin = shift(begin), acked = shift(acked)
        try transport.send(bytes)
        var failure: NetlinkError?
        while true {
            let datagram: [UInt8]
            do {
                datagram = try transport.receive()
            } catch let error as SystemError where error.code == .noBufferSpace {
                // Only error replies can fill the queue (one ack per batch), so the batch was refused.
                throw failure ?? NetlinkError("netfilter batch (its error replies overflowed the socket)", code: .noBufferSpace)
            }
            for message in NetlinkMessage.split(datagram) where Int32(message.type) == weft_nlmsg_error {
                guard message.sequence == begin || descriptions[message.sequence] != nil else { continue }
                let code = message.payload.loadInteger(Int32.self, at: 0) ?? -EPROTO
                if code != 0 {
                    let error = NetlinkError(
                        descriptions[message.sequence] ?? "netfilter batch", errno: -code,
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

    /// `bytes` with every message's sequence number moved from `begin`-based to `base`-based, and the
    /// number of messages (the sequence numbers they span).
    static func renumbered(_ bytes: [UInt8], from begin: UInt32, to base: UInt32) -> (bytes: [UInt8], count: UInt32) {
        var bytes = bytes
        var offset = 0, highest: UInt32 = 0
        while let length = bytes.loadInteger(UInt32.self, at: offset), length >= UInt32(NetlinkMessage.headerSize),
            offset + Int(length) <= bytes.count
        {
            let relative = (bytes.loadInteger(UInt32.self, at: offset + 8) ?? begin) &- begin
            highest = max(highest, relative &+ 1)
            bytes.withUnsafeMutableBytes { $0.storeBytes(of: base &+ relative, toByteOffset: offset + 8, as: UInt32.self) }
            offset += align4(Int(length))
        }
        return (bytes, highest)
    }

    /// The NLMSGERR_ATTR_MSG text of an error reply. With NETLINK_CAP_ACK the payload is the errno,
    /// the original request's header only, then the extended-ack attributes.
    static func extendedAckMessage(_ message: NetlinkMessage) -> String? {
        guard (Int32(message.flags) & NLM_F_ACK_TLVS) != 0 else { return nil }
        let attributes = NetlinkAttribute.parse(message.payload, from: 4 + NetlinkMessage.headerSize)
        return attributes.first(Int(NLMSGERR_ATTR_MSG.rawValue))?.string
    }
}
