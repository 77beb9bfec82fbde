import CMnl
import CNftnl

/// One set element as libnftnl lays it out, for every set and map and for adding, deleting and asking.
enum NftElementEncoder {
    /// A set named in its table, as element and delete messages carry it.
    static func set(table: String, name: String) -> OpaquePointer? {
        guard let object = nftnl_set_alloc() else { return nil }
        nftnl_set_set_str(object, code(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(object, code(NFTNL_SET_NAME), name)
        nftnl_set_set_u32(object, code(NFTNL_SET_FAMILY), UInt32(NftTransaction.inet))
        return object
    }

    /// The element's key, interval-end flag and verdict; with `withData` (adding) also its data and
    /// comment, which a delete or a lookup does not carry.
    static func encode(_ element: NftSetElement, withData: Bool) -> OpaquePointer? {
        guard let item = nftnl_set_elem_alloc() else { return nil }
        element.key.withUnsafeBytes { _ = nftnl_set_elem_set(item, code(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
        if element.intervalEnd { nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_FLAGS), code32(NFT_SET_ELEM_INTERVAL_END)) }
        switch element.verdict {
        case .accept?: nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NF_ACCEPT))
        case .drop?: nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NF_DROP))
        case let .jump(chain)?:
            nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NFT_JUMP.rawValue))
            nftnl_set_elem_set_str(item, code(NFTNL_SET_ELEM_CHAIN), chain)
        case let .goto(chain)?:
            nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NFT_GOTO.rawValue))
            nftnl_set_elem_set_str(item, code(NFTNL_SET_ELEM_CHAIN), chain)
        case .return?: nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NFT_RETURN.rawValue))
        case nil: break
        }
        if withData, !element.data.isEmpty {
            element.data.withUnsafeBytes { _ = nftnl_set_elem_set(item, code(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
        }
        if withData, !element.comment.isEmpty {
            NftComment.encode(element.comment).withUnsafeBytes {
                _ = nftnl_set_elem_set(item, code(NFTNL_SET_ELEM_USERDATA), $0.baseAddress, UInt32($0.count))
            }
        }
        return item
    }
}
