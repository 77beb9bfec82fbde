import CMnl
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Where netlink bytes go and come from: the kernel through libmnl, or recorded bytes in tests.
public protocol NetlinkTransport: AnyObject {
    func send(_ bytes: [UInt8]) throws
    /// One datagram, which may hold several messages.
    func receive() throws -> [UInt8]
}

/// A netlink socket opened with libmnl (NETLINK_ROUTE unless told otherwise), bound in the network
/// namespace of the calling thread.
public final class MnlTransport: NetlinkTransport {
    /// Dumps of a busy node's routes fill datagrams up to 32 KiB; leave room.
    private static let receiveBufferSize = 65536

    private let socket: OpaquePointer
    private var receiveBuffer = [UInt8](repeating: 0, count: MnlTransport.receiveBufferSize)

    public init(protocol family: Int32 = NETLINK_ROUTE) throws {
        guard let socket = mnl_socket_open(family) else {
            throw SystemError.last("socket", "netlink")
        }
        self.socket = socket
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let failure = errno
            mnl_socket_close(socket)
            throw SystemError("bind", "netlink socket", errno: failure)
        }
        // Extended acks carry the kernel's own explanation; capped acks keep error replies small.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(socket, Int32(NETLINK_EXT_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, Int32(NETLINK_CAP_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
        // Strict checking lets a dump ask the kernel to filter (addresses of one link) instead of
        // returning every object of the namespace, which grows with the pods on a node.
        _ = mnl_socket_setsockopt(socket, Int32(NETLINK_GET_STRICT_CHK), &on, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { mnl_socket_close(socket) }

    public func send(_ bytes: [UInt8]) throws {
        let sent = try retryingOnInterrupt("sendto", "netlink socket") { bytes.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) } }
        // A datagram socket sends all of it or nothing.
        guard sent == bytes.count else { throw SystemError("sendto", "netlink socket", errno: EMSGSIZE) }
    }

    public func receive() throws -> [UInt8] {
        let count = try retryingOnInterrupt("recvfrom", "netlink socket") {
            receiveBuffer.withUnsafeMutableBytes { mnl_socket_recvfrom(socket, $0.baseAddress, $0.count) }
        }
        return Array(receiveBuffer[0..<count])
    }
}
