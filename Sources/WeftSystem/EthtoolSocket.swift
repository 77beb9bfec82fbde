import CWeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// A device's transmit checksum offload, through the ethtool ioctl (SIOCETHTOOL with ETHTOOL_GTXCSUM and
/// ETHTOOL_STXCSUM, `struct ethtool_value`) on an AF_INET datagram socket. Not the ethtool netlink family
/// (ETHTOOL_MSG_FEATURES_SET): that arrived in Linux 5.6, and the kernels that need the offload off
/// (before 5.7) are mostly older; the ioctl works on every kernel.
///
/// The ioctl acts on the devices of the socket's namespace (the kernel looks the name up in
/// sock_net), which is where the socket was opened: like the netlink sockets, open it in the
/// namespace the fabric works in and use it from any thread.
public final class EthtoolSocket {
    private let fd: Int32

    /// A socket in the calling thread's namespace.
    public init() throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket", "AF_INET for SIOCETHTOOL") }
    }

    deinit { close(fd) }

    /// Whether `device` computes transmit checksums in "hardware" (for a vxlan device: NETIF_F_HW_CSUM,
    /// ethtool's tx-checksum-ip-generic): the features in force, not only the wanted ones.
    public func txChecksumOffload(device: String) throws -> Bool {
        try value(device: device, command: weft_ethtool_gtxcsum, data: 0, operation: "ETHTOOL_GTXCSUM") != 0
    }

    /// Asks for `device`'s transmit checksum offload on or off. The kernel changes the wanted features
    /// and recomputes the device's: turning checksum offload off also turns off what depends on it
    /// (TSO, as `ethtool -K DEV tx off` shows).
    public func setTxChecksumOffload(device: String, enabled: Bool) throws {
        _ = try value(device: device, command: weft_ethtool_stxcsum, data: enabled ? 1 : 0, operation: "ETHTOOL_STXCSUM")
    }

    private func value(device: String, command: UInt32, data: UInt32, operation: String) throws -> UInt32 {
        var data = data
        try retryingOnInterrupt("ioctl SIOCETHTOOL \(operation)", device) { weft_ethtool_value(fd, device, command, &data) }
        return data
    }
}
