import CMnl
import CNftnl
import WeftAddress

/// A netfilter transaction under construction: libnftnl lays out each object's message between
/// the batch's begin and end markers, in one buffer this object owns.
final class NftBatch {
    static let capacity = 1 << 16

    let capacity: Int
    private let buffer: UnsafeMutableRawPointer
    private let batch: OpaquePointer
    private var sequence: UInt32
    private(set) var acks: [UInt32: String] = [:]
    private(set) var overflowed = false

    init(firstSequence: UInt32, capacity: Int = NftBatch.capacity) {
        self.capacity = capacity
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        // Both are non-nil for a buffer this size; mnl returns nil only when it cannot allocate its tracker.
        batch = mnl_nlmsg_batch_start(buffer, capacity)
        sequence = firstSequence
        nftnl_batch_begin(mnl_nlmsg_batch_current(batch).assumingMemoryBound(to: CChar.self), sequence)
        sequence += 1
        next()
    }

    deinit {
        mnl_nlmsg_batch_stop(batch)
        buffer.deallocate()
    }

    private func next() {
        if !mnl_nlmsg_batch_next(batch) { overflowed = true }
    }

    /// Appends one message; `describe` names it in errors.
    func add(_ type: UInt32, family: UInt8, flags: Int32, describe: String, payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        let header = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch).assumingMemoryBound(to: CChar.self),
                                           UInt16(type), UInt16(family), UInt16(flags | NLM_F_ACK), sequence)
        if let header { payload(header) }
        acks[sequence] = describe
        sequence += 1
        next()
    }

    /// Closes the batch and returns its bytes and the number of sequence numbers it used.
    func finish() -> (bytes: [UInt8], sequencesUsed: UInt32) {
        nftnl_batch_end(mnl_nlmsg_batch_current(batch).assumingMemoryBound(to: CChar.self), sequence)
        sequence += 1
        next()
        let head = mnl_nlmsg_batch_head(batch)
        let size = mnl_nlmsg_batch_size(batch)
        return (Array(UnsafeRawBufferPointer(start: head, count: size)), sequence)
    }
}
