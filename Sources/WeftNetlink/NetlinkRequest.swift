import CMnl

/// One netlink request under construction. libmnl writes the header and attributes (with their
/// alignment and lengths) into a buffer this object owns; `bytes` is what goes on the wire.
public final class NetlinkRequest {
    /// Every request Weft builds is a few hundred bytes: names are at most 15 bytes, addresses 16.
    static let capacity = 4096

    private let buffer: UnsafeMutableRawPointer
    let header: UnsafeMutablePointer<nlmsghdr>

    public init(type: Int, flags: Int32) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: NetlinkRequest.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: NetlinkRequest.capacity)
        header = mnl_nlmsg_put_header(buffer)
        header.pointee.nlmsg_type = UInt16(type)
        header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | flags)
    }

    deinit { buffer.deallocate() }

    public var sequence: UInt32 {
        get { header.pointee.nlmsg_seq }
        set { header.pointee.nlmsg_seq = newValue }
    }

    public var flags: UInt16 { header.pointee.nlmsg_flags }

    /// The first write that did not fit the buffer; the request is then refused unsent (NetlinkSocket).
    /// Every write is checked (libmnl's `_check` calls), as an attribute past the buffer would otherwise
    /// be written past its end.
    public private(set) var overflow: String?

    /// Appends a fixed family header (ifinfomsg, ifaddrmsg, rtmsg) after the netlink header or inside a nest.
    public func putStruct<T>(_ value: T) {
        let size = MemoryLayout<T>.size
        guard overflow == nil else { return }
        guard Int(header.pointee.nlmsg_len) + align4(size) <= NetlinkRequest.capacity else {
            overflow = "a \(size)-byte header past the \(NetlinkRequest.capacity)-byte request"
            return
        }
        let pointer = mnl_nlmsg_put_extra_header(header, size)
        pointer?.storeBytes(of: value, as: T.self)
    }

    public func put(_ type: Int, u8 value: UInt8) { check(type, 1) { mnl_attr_put_u8_check(header, $0, UInt16(type), value) } }
    public func put(_ type: Int, u32 value: UInt32) { check(type, 4) { mnl_attr_put_u32_check(header, $0, UInt16(type), value) } }
    public func put(_ type: Int, string value: String) {
        check(type, value.utf8.count + 1) { mnl_attr_put_strz_check(header, $0, UInt16(type), value) }
    }

    public func put(_ type: Int, bytes value: [UInt8]) {
        check(type, value.count) { room in value.withUnsafeBytes { mnl_attr_put_check(header, room, UInt16(type), $0.count, $0.baseAddress) } }
    }

    /// Opens a nested attribute (libmnl sets NLA_F_NESTED), runs `body`, and closes it.
    public func nest(_ type: Int, _ body: () -> Void) {
        guard overflow == nil else { return }
        guard let start = mnl_attr_nest_start_check(header, NetlinkRequest.capacity, UInt16(type)) else {
            overflow = "nested attribute \(type) past the \(NetlinkRequest.capacity)-byte request"
            return
        }
        body()
        if overflow == nil { mnl_attr_nest_end(header, start) }
    }

    /// Runs one checked libmnl write (which refuses, returning false, an attribute past `capacity`);
    /// the first refusal is kept in `overflow` and later writes are skipped.
    private func check(_ type: Int, _ size: Int, _ write: (Int) -> Bool) {
        guard overflow == nil else { return }
        if !write(NetlinkRequest.capacity) {
            overflow = "attribute \(type) of \(size) bytes past the \(NetlinkRequest.capacity)-byte request"
        }
    }

    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len)))
    }
}
