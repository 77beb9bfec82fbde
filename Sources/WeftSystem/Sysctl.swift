#if canImport(Glibc)
import Glibc
#endif

/// Writes under /proc/sys/net, which shows the namespace of the writing thread.
public enum Sysctl {
    /// Writes `value` to `/proc/sys/<key>` (key with '/' separators). Missing keys (IPv6 disabled) are skipped when `optional`.
    public static func write(_ key: String, _ value: String, optional: Bool = false) throws {
        let path = "/proc/sys/\(key)"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if optional && errno == ENOENT { return }
            throw SystemError.last("open", path)
        }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        // A sysctl takes its value in one write; a short one is refused like a failed one.
        let written = try retryingOnInterrupt("write", path) { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
        guard written == bytes.count else { throw SystemError("write", path, errno: EIO) }
    }

    public static func read(_ key: String) -> String? {
        let path = "/proc/sys/\(key)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").first.map(String.init)
    }
}
