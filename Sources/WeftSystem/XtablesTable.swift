import CWeftSystem
import SystemPackage
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// One legacy iptables (x_tables) table of the calling thread's network namespace, read through the
/// kernel as iptables-legacy does: IPT_SO_GET_INFO (IP6T_ for IPv6) for the size of its entries, then
/// IPT_SO_GET_ENTRIES for the entries. iptables-nft's rules are nftables and are not here. iptables asks
/// on a raw socket, which needs CAP_NET_RAW; the kernel answers these options on any socket of the family
/// (ip_getsockopt hands them to nf_getsockopt, which checks CAP_NET_ADMIN only), so a UDP socket does, and
/// weftd's DaemonSet, which has CAP_NET_ADMIN and no CAP_NET_RAW, can ask.
public enum XtablesTable {
    /// The most entries read: the size comes from the kernel, and a table past this is refused rather
    /// than allocated (kube-proxy's nat table with 10,000 Services is a few MiB).
    public static let maxBytes = 64 << 20

    /// The user-defined chains of `table` ("nat") in `family`; nil when the namespace has no such
    /// table. Only a table the kernel already lists in /proc/thread-self/net/ip_tables_names
    /// (ip6_tables_names) is asked for: asking for a missing one makes the kernel load its module
    /// and create it, empty, in the namespace (xt_find_table_lock instantiates a table on first use).
    public static func userChains(table: String, family: IPAddress.Family) throws -> [String]? {
        guard try names(family).contains(table) else { return nil }
        let fd = socket(family == .v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
        guard fd >= 0 else { throw SystemError.last("socket", "UDP for x_tables") }
        defer { close(fd) }
        let layout = family == .v4 ? XtablesLayout.ipv4 : .ipv6
        let ipv6: Int32 = family == .v4 ? 0 : 1
        let spelled = "\(family == .v4 ? "ip" : "ip6") \(table)"
        // The table may change size between the two calls (EAGAIN): ask again, as iptables does.
        for _ in 0..<3 {
            var size: UInt32 = 0
            if weft_xt_table_size(fd, ipv6, table, &size) != 0 {
                let failure = errno
                // Gone since /proc listed it, or x_tables gone with its module: no table.
                if failure == ENOENT || failure == ENOPROTOOPT { return nil }
                throw SystemError("getsockopt IPT_SO_GET_INFO", spelled, errno: failure)
            }
            guard Int(size) <= maxBytes else {
                throw SystemError(
                    "getsockopt IPT_SO_GET_INFO", "\(spelled): \(size) bytes of entries, over the \(maxBytes >> 20) MiB read", code: .noBufferSpace)
            }
            var buffer = [UInt8](repeating: 0, count: layout.entriesAt + Int(size))
            let length = UInt32(buffer.count)
            if weft_xt_table_entries(fd, ipv6, table, &buffer, length) != 0 {
                let failure = errno
                if failure == EAGAIN || failure == EINTR { continue }
                if failure == ENOENT { return nil }
                throw SystemError("getsockopt IPT_SO_GET_ENTRIES", spelled, errno: failure)
            }
            return try XtablesEntries.userChains(Array(buffer[layout.entriesAt...]), layout: layout)
        }
        throw SystemError("getsockopt IPT_SO_GET_ENTRIES", "\(spelled): changed size three times in a row", code: .resourceTemporarilyUnavailable)
    }

    /// The x_tables tables of `family` in the calling thread's namespace; none when x_tables is not
    /// in the kernel (no file).
    static func names(_ family: IPAddress.Family) throws -> Set<String> {
        let path = "/proc/thread-self/net/\(family == .v4 ? "ip_tables_names" : "ip6_tables_names")"
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        } catch Errno.noSuchFileOrDirectory {
            return []
        } catch let code as Errno {
            throw SystemError("open", path, code: code)
        }
        defer { try? file.close() }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count: Int
            do {
                count = try chunk.withUnsafeMutableBytes { try file.read(into: $0, retryOnInterrupt: true) }
            } catch let code as Errno {
                throw SystemError("read", path, code: code)
            }
            if count == 0 { break }
            text += chunk[..<count]
            // A name per line, a handful of tables: a file past this is not the one described.
            guard text.count <= 1 << 16 else { throw SystemError("read", "\(path): over 64 KiB", code: .fileTooLarge) }
        }
        return Set(String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init))
    }
}
