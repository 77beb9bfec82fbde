import CMnl
import CNftnl

/// A netfilter transaction under construction: batch begin, one message per object (libnftnl lays each
/// out), batch end, in one buffer this object owns and grows. The one place that splits and sizes.
///
/// What the kernel does with it (nfnetlink_rcv_batch; checked on our kernel):
/// - A transaction is one datagram. The kernel runs what lies between batch begin and end in one skb: a
///   datagram that ends before the batch end is aborted (its messages acked 0 all the same), one that
///   starts without a batch begin is refused (EINVAL). So a large transaction is never split across
///   sendmsg calls; MnlTransport raises the socket's send buffer to fit the datagram instead.
/// - An attribute's length is a u16: one element list holds at most 65,535 bytes, so `addElements`
///   splits a list across several NEWSETELEM messages of the same transaction, as nft does.
/// - Every failing message is answered with an error whether or not it asked for an ack, and the replies
///   are queued after the whole batch ran, in message order. Only the last message asks for an ack: its
///   reply closes the replies, and thousands of acks cannot overflow the socket's receive queue (ENOBUFS,
///   replies lost although the transaction was committed).
/// - A commit that fails is answered against the batch begin's sequence number.
///
/// libnftnl writes without bounds checks, so each message comes with an upper bound of its size (NftSize)
/// and the buffer is grown to hold that much before anything is written. A message whose bound passes
/// `maximumMessage`, or a transaction passing `maximumTransaction`, is refused before it is written, and
/// the transaction with it (`refusal`, thrown by NftClient.commit).
final class NftBatch {
    static let maximumAttribute = 65_535
    /// One element list of 64 KiB and the set's names; a rule's expressions nest is a u16 too.
    static let maximumMessage = maximumAttribute + 4096
    /// A transaction is one datagram the kernel copies whole; this many bytes is far past any table Weft writes.
    static let maximumTransaction = 64 << 20
    /// nftnl_batch_begin and nftnl_batch_end: a header and an nfgenmsg.
    private static let marker = 32

    let beginSequence: UInt32
    private var sequence: UInt32
    private var bytes: [UInt8] = []
    private var lastMessage: (offset: Int, sequence: UInt32)?
    private var finished: (bytes: [UInt8], sequencesUsed: UInt32)?
    /// What each message does, by sequence number, for errors.
    private(set) var descriptions: [UInt32: String] = [:]
    private(set) var refusal: NftBatchOverflow?

    init(firstSequence: UInt32) {
        beginSequence = firstSequence
        sequence = firstSequence &+ 1
        write(bound: Self.marker) { nftnl_batch_begin($0, firstSequence) }
    }

    /// Whether no object message was added.
    var isEmpty: Bool { descriptions.isEmpty }
    var messageCount: Int { descriptions.count }
    /// The sequence number whose reply ends the transaction's replies.
    var ackedSequence: UInt32? { lastMessage?.sequence }

    /// Appends one message of at most `bound` bytes past its header and nfgenmsg; `describe` names it in errors.
    func add(
        _ type: UInt32, family: UInt8, flags: Int32, describe: String, bound: Int,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) {
        guard refusal == nil, finished == nil else { return }
        let size = NftSize.header + bound
        guard size <= Self.maximumMessage else {
            refusal = NftBatchOverflow(what: "\(describe): one message", size: size, limit: Self.maximumMessage)
            return
        }
        guard bytes.count + size + Self.marker <= Self.maximumTransaction else {
            refusal = NftBatchOverflow(what: "the transaction at \(describe)", size: bytes.count + size, limit: Self.maximumTransaction)
            return
        }
        let offset = bytes.count, number = sequence
        write(bound: size) { base in
            let header = nftnl_nlmsg_build_hdr(base, UInt16(type), UInt16(family), UInt16(flags), number)
            if let header { payload(header) }
            return header
        }
        lastMessage = (offset, number)
        descriptions[number] = describe
        sequence &+= 1
    }

    /// Appends `items` to one set in as few messages as the element list's u16 length allows: each holds
    /// the items whose bounds (`itemBound`) add up to at most 65,535 bytes with the list's own header.
    /// `bound` is the rest of one message (table and set names); `payload` lays out the set and its items.
    func addElements<Item>(
        _ items: [Item], type: UInt32, family: UInt8, flags: Int32, bound: Int,
        itemBound: (Item) -> Int, describe: (ArraySlice<Item>) -> String,
        payload: (UnsafeMutablePointer<nlmsghdr>, ArraySlice<Item>) -> Void
    ) {
        var start = items.startIndex
        while start < items.endIndex, refusal == nil {
            var list = NftSize.nest, end = start
            while end < items.endIndex, list + itemBound(items[end]) <= Self.maximumAttribute {
                list += itemBound(items[end])
                end += 1
            }
            guard end > start else {
                refusal = NftBatchOverflow(
                    what: "\(describe(items[start...start])): one element", size: list + itemBound(items[start]),
                    limit: Self.maximumAttribute)
                return
            }
            let chunk = items[start..<end]
            add(type, family: family, flags: flags, describe: describe(chunk), bound: bound + list) { payload($0, chunk) }
            start = end
        }
    }

    /// Closes the batch: the last object message asks for the transaction's one ack. Returns the datagram
    /// and the first sequence number after it.
    func finish() -> (bytes: [UInt8], sequencesUsed: UInt32) {
        if let finished { return finished }
        if let last = lastMessage {
            // nlmsg_flags: a u16 in host order at byte 6 of the header.
            bytes.withUnsafeMutableBytes { raw in
                let flags = raw.loadUnaligned(fromByteOffset: last.offset + 6, as: UInt16.self)
                raw.storeBytes(of: flags | UInt16(NLM_F_ACK), toByteOffset: last.offset + 6, as: UInt16.self)
            }
        }
        let end = sequence
        write(bound: Self.marker) { nftnl_batch_end($0, end) }
        sequence &+= 1
        let result = (bytes, sequence)
        finished = result
        return result
    }

    /// Lays out one message in `bound` zeroed bytes appended to the buffer, then keeps only its
    /// (aligned) length. `body` returns the message's header.
    private func write(bound: Int, _ body: (UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<nlmsghdr>?) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: bound))
        let length = bytes.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress?.advanced(by: start).assumingMemoryBound(to: CChar.self),
                let header = body(base)
            else { return 0 }
            return Int(header.pointee.nlmsg_len)
        }
        // A bound below what libnftnl wrote is a bug in NftSize that has already written past the buffer.
        precondition(length <= bound, "netfilter message of \(length) bytes past its bound of \(bound)")
        bytes.removeLast(bound - NftSize.align(length))
    }
}

/// A netfilter message or transaction larger than the kernel or Weft takes: refused before anything is
/// written or sent.
public struct NftBatchOverflow: Error, CustomStringConvertible {
    public let what: String
    public let size: Int
    public let limit: Int
    public var description: String { "netfilter batch: \(what) needs \(size) bytes, more than \(limit)" }
}
