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

    /// Appends a fixed family header (ifinfomsg, ifaddrmsg, rtmsg) after the netlink header or inside a nest.
    public func putStruct<T>(_ value: T) {
        let pointer = mnl_nlmsg_put_extra_header(header, MemoryLayout<T>.size)
        pointer?.storeBytes(of: value, as: T.self)
    }

    public func put(_ type: Int, u8 value: UInt8) { mnl_attr_put_u8(header, UInt16(type), value) }
    public func put(_ type: Int, u32 value: UInt32) { mnl_attr_put_u32(header, UInt16(type), value) }
    public func put(_ type: Int, string value: String) { mnl_attr_put_strz(header, UInt16(type), value) }

    public func put(_ type: Int, bytes value: [UInt8]) {
        value.withUnsafeBytes { mnl_attr_put(header, UInt16(type), $0.count, $0.baseAddress) }
    }

    /// Opens a nested attribute (libmnl sets NLA_F_NESTED), runs `body`, and closes it.
    public func nest(_ type: Int, _ body: () -> Void) {
        let start = mnl_attr_nest_start(header, UInt16(type))
        body()
        mnl_attr_nest_end(header, start)
    }

    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len)))
    }
}
