import CMnl
import CNftnl
import SystemPackage
import WeftNetlink
#if canImport(Glibc)
import Glibc
#endif

/// nf_tables in a handle's network namespace, over the handle's NETLINK_NETFILTER socket (shared with
/// conntrack): transactions sent whole (commit), and what the tables hold read back.
public final class NftClient {
    public let handle: NetlinkHandle
    private var connection: NetlinkSocket { get throws { try handle.netfilter } }

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    /// Over one transport (a test's replayed bytes).
    public convenience init(transport: NetlinkTransport) {
        self.init(handle: NetlinkHandle { _ in transport })
    }

    /// Where a transaction numbers its messages from: the socket renumbers them from its own sequence
    /// when it sends them.
    var peekSequence: UInt32 { 1 }

    /// A new transaction.
    public func transaction() -> NftTransaction { NftTransaction(firstSequence: peekSequence) }

    /// The size of the last transaction sent: bytes of its one datagram, and object messages in it.
    private(set) var lastCommit: (bytes: Int, messages: Int)?
    /// Every transaction this client sent: object messages and datagram bytes, summed.
    public private(set) var sent: (messages: Int, bytes: Int) = (0, 0)

    /// Sends the transaction in one datagram (see NftBatch) and reads its replies: the one place a
    /// finished transaction meets the socket. A batch that refused a message is thrown before anything
    /// is sent; an empty one sends nothing.
    public func commit(_ transaction: NftTransaction) throws {
        let batch = transaction.batch
        let (bytes, _) = batch.finish()
        if let refusal = batch.refusal { throw refusal }
        guard let acked = batch.ackedSequence else { return }
        lastCommit = (bytes.count, batch.messageCount)
        sent = (sent.messages + batch.messageCount, sent.bytes + bytes.count)
        try connection.exchangeTransaction(bytes, begin: batch.beginSequence, acked: acked, descriptions: batch.descriptions)
    }

    /// Deletes the table `name`; false when there was none.
    @discardableResult
    public func deleteTable(_ name: String) throws -> Bool {
        let transaction = transaction()
        transaction.deleteTable(name)
        do {
            try commit(transaction)
            return true
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {
            return false
        }
    }

    /// Every element of a set, or none when it or its table is missing.
    public func elements(table: String, set: String) throws -> [NftSetElement] {
        try dump(NFT_MSG_GETSETELEM, operation: "list set \(set) of \(table)") { header in
            guard let object = NftElementEncoder.set(table: table, name: set) else { return }
            defer { nftnl_set_free(object) }
            nftnl_set_elems_nlmsg_build_payload(header, object)
        }.flatMap { SetElementParser.elements(payload: $0.payload) }
    }

    /// The keys of a set (none when it or its table is missing).
    public func keys(table: String, set: String) throws -> [[UInt8]] {
        try elements(table: table, set: set).map(\.key)
    }

    /// The element of a set with `key`, asked for alone (NFT_MSG_GETSETELEM without NLM_F_DUMP, so the
    /// cost does not grow with the set), or nil when it, the set or the table is missing.
    public func element(table: String, set: String, key: [UInt8]) throws -> NftSetElement? {
        try query(NFT_MSG_GETSETELEM, dump: false, operation: "get element of \(set)") { header in
            guard let object = NftElementEncoder.set(table: table, name: set) else { return }
            defer { nftnl_set_free(object) }
            if let element = NftElementEncoder.encode(NftSetElement(key: key), withData: false) { nftnl_set_elem_add(object, element) }
            nftnl_set_elems_nlmsg_build_payload(header, object)
        }.flatMap { SetElementParser.elements(payload: $0.payload) }.first
    }

    /// Every rule of a table: its chain and comment.
    public func rules(table: String) throws -> [(chain: String, comment: String)] {
        try dump(NFT_MSG_GETRULE, operation: "list rules of table \(table)") { header in
            guard let rule = nftnl_rule_alloc() else { return }
            defer { nftnl_rule_free(rule) }
            nftnl_rule_set_str(rule, code(NFTNL_RULE_TABLE), table)
            nftnl_rule_nlmsg_build_payload(header, rule)
        }.compactMap { message in
            // nfgenmsg, then NFTA_RULE_TABLE (1), NFTA_RULE_CHAIN (2), …, NFTA_RULE_USERDATA (7).
            let attributes = NetlinkAttribute.parse(message.payload, from: 4)
            guard attributes.first(1)?.string == table, let chain = attributes.first(2)?.string else { return nil }
            return (chain, attributes.first(7).flatMap { NftComment.decode($0.value) } ?? "")
        }
    }

    /// A dump request laid out by libnftnl; a missing table or set (ENOENT) is an empty answer.
    func dump(
        _ type: nf_tables_msg_types, family: UInt8 = NftTransaction.inet, operation: String,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) throws -> [NetlinkMessage] {
        try query(type, family: family, dump: true, operation: operation, payload: payload)
    }

    /// One request (a dump, or a get answered by one object and an ack) laid out by libnftnl; a missing
    /// table, set or element (ENOENT) is an empty answer.
    private func query(
        _ type: nf_tables_msg_types, family: UInt8 = NftTransaction.inet, dump: Bool, operation: String,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) throws -> [NetlinkMessage] {
        let flags = dump ? NLM_F_DUMP : NLM_F_ACK
        do {
            return try connection.execute(isDump: dump, ackRequested: !dump, operation: operation) { sequence in
                var buffer = [UInt8](repeating: 0, count: 512)
                let length: Int = buffer.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                        let header = nftnl_nlmsg_build_hdr(base, UInt16(code32(type)), UInt16(family), UInt16(flags), sequence)
                    else { return 0 }
                    payload(header)
                    return Int(header.pointee.nlmsg_len)
                }
                return Array(buffer[0..<length])
            }
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {
            return []
        }
    }
}

/// Reads NFT_MSG_NEWSETELEM replies: nfgenmsg, then NFTA_SET_ELEM_LIST_ELEMENTS (3) holding one
/// NFTA_LIST_ELEM per element with its key (1), flags (3, big-endian), data (2) and user data (6).
public enum SetElementParser {
    public static func elements(payload: [UInt8]) -> [NftSetElement] {
        let list = NetlinkAttribute.parse(payload, from: 4)
        guard let elements = list.first(3)?.nested else { return [] }
        return elements.compactMap { item -> NftSetElement? in
            let fields = item.nested
            guard let key = fields.first(1)?.nested.first(1)?.value else { return nil }
            let flags = fields.first(3)?.u32.map { UInt32(bigEndian: $0) } ?? 0
            let data = fields.first(2)?.nested.first(1)?.value ?? []
            let comment = fields.first(6).flatMap { NftComment.decode($0.value) } ?? ""
            return NftSetElement(
                key: key, intervalEnd: flags & code32(NFT_SET_ELEM_INTERVAL_END) != 0, verdict: verdict(fields.first(2)?.nested.first(2)), data: data,
                comment: comment)
        }
    }

    /// NFTA_DATA_VERDICT: NFTA_VERDICT_CODE (1, big-endian) and NFTA_VERDICT_CHAIN (2).
    static func verdict(_ attribute: NetlinkAttribute?) -> NftVerdict? {
        guard let fields = attribute?.nested, let raw = fields.first(1)?.u32 else { return nil }
        let chain = fields.first(2)?.string ?? ""
        switch Int32(bitPattern: UInt32(bigEndian: raw)) {
        case NF_ACCEPT: return .accept
        case NF_DROP: return .drop
        case NFT_JUMP.rawValue: return .jump(chain)
        case NFT_GOTO.rawValue: return .goto(chain)
        case NFT_RETURN.rawValue: return .return
        default: return nil
        }
    }
}
