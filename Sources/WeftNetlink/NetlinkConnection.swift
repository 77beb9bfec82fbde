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
        let sequence = nextSequence
        nextSequence &+= 1
        request.sequence = sequence
        let isDump = (Int32(request.flags) & NLM_F_DUMP) == NLM_F_DUMP
        try transport.send(request.bytes)

        var replies: [NetlinkMessage] = []
        while true {
            for message in NetlinkMessage.split(try transport.receive()) where message.sequence == sequence {
                switch Int32(message.type) {
                case weft_nlmsg_error:
                    let code = message.payload.loadInteger(Int32.self, at: 0)
                    if code == 0 { return replies }
                    throw NetlinkError(operation(), errno: -code, kernelMessage: Self.extendedAckMessage(message))
                case weft_nlmsg_done:
                    // A dump ends with DONE; with NLM_F_ACK an ack may follow, which a later request would skip by sequence.
                    return replies
                default:
                    replies.append(message)
                    if !isDump && (Int32(message.flags) & NLM_F_MULTI) == 0 && (Int32(request.flags) & NLM_F_ACK) == 0 {
                        return replies
                    }
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
