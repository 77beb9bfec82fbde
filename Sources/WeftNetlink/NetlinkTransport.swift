import CMnl
import SystemPackage
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
    /// The socket's send buffer as the kernel reports it; 0 until first read.
    private var sendBufferSize = 0

    /// How long `receive` waits for the kernel's next datagram before failing (ETIMEDOUT): a request is
    /// answered at once, so a silent socket is a lost reply, and the caller should fail rather than hang.
    public static let defaultReceiveTimeout = 30

    private let receiveTimeoutSeconds: Int

    public init(protocol family: Int32 = NETLINK_ROUTE, receiveTimeoutSeconds: Int = MnlTransport.defaultReceiveTimeout) throws {
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
        self.receiveTimeoutSeconds = receiveTimeoutSeconds
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        guard setsockopt(mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            let failure = errno
            mnl_socket_close(socket)
            throw SystemError("setsockopt SO_RCVTIMEO", "netlink socket", errno: failure)
        }
    }

    deinit { mnl_socket_close(socket) }

    public func send(_ bytes: [UInt8]) throws {
        try ensureSendBuffer(for: bytes.count)
        let sent = try retryingOnInterrupt("sendto", "netlink socket") { bytes.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) } }
        // A datagram socket sends all of it or nothing.
        guard sent == bytes.count else { throw SystemError("sendto", "netlink socket", errno: EMSGSIZE) }
    }

    /// The kernel refuses a datagram larger than the socket's send buffer less 32 bytes (EMSGSIZE, 212,992
    /// bytes by default), and a netfilter transaction is one datagram however large. So the buffer grows
    /// to fit: SO_SNDBUFFORCE (CAP_NET_ADMIN; past net.core.wmem_max), else SO_SNDBUF (capped at
    /// wmem_max). The kernel doubles the value it is given and reports the doubled one.
    private func ensureSendBuffer(for count: Int) throws {
        let needed = count + 64
        if sendBufferSize == 0 { sendBufferSize = currentSendBuffer() }
        guard needed > sendBufferSize else { return }
        let descriptor = mnl_socket_get_fd(socket)
        var value = Int32(clamping: needed)
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_SNDBUFFORCE, &value, length) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &value, length)
        }
        sendBufferSize = currentSendBuffer()
        guard needed <= sendBufferSize else {
            throw SystemError("sendto", "netlink socket: a \(count)-byte datagram past the send buffer of \(sendBufferSize) bytes", errno: EMSGSIZE)
        }
    }

    private func currentSendBuffer() -> Int {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(mnl_socket_get_fd(socket), SOL_SOCKET, SO_SNDBUF, &value, &length) == 0 else { return 0 }
        return Int(value)
    }

    /// One datagram; SO_RCVTIMEO ends the wait with EAGAIN, reported as ETIMEDOUT.
    public func receive() throws -> [UInt8] {
        do {
            let count = try retryingOnInterrupt("recvfrom", "netlink socket") {
                receiveBuffer.withUnsafeMutableBytes { mnl_socket_recvfrom(socket, $0.baseAddress, $0.count) }
            }
            return Array(receiveBuffer[0..<count])
        } catch let error as SystemError where error.code == .resourceTemporarilyUnavailable {
            throw SystemError("recvfrom", "netlink socket: no reply within \(receiveTimeoutSeconds) s", errno: ETIMEDOUT)
        }
    }
}
