import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Writes under /proc/sys/net, which shows the namespace of the writing thread.
public enum Sysctl {
    /// Writes `value` to `/proc/sys/<key>` (key with '/' separators). Missing keys (IPv6 disabled) are skipped when `optional`.
    public static func write(_ key: String, _ value: String, optional: Bool = false) throws {
        let path = "/proc/sys/\(key)"
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(FilePath(path), .writeOnly, options: .closeOnExec)
        } catch let code as Errno {
            if optional && code == .noSuchFileOrDirectory { return }
            throw SystemError("open", path, code: code)
        }
        defer { try? file.close() }
        let bytes = Array(value.utf8)
        // A sysctl takes its value in one write; a short one is refused like a failed one.
        let written: Int
        do {
            written = try bytes.withUnsafeBytes { try file.write($0) }
        } catch let code as Errno {
            throw SystemError("write", path, code: code)
        }
        guard written == bytes.count else { throw SystemError("write", path, code: .ioError) }
    }

    public static func read(_ key: String) -> String? {
        guard let file = try? FileDescriptor.open(FilePath("/proc/sys/\(key)"), .readOnly, options: .closeOnExec) else { return nil }
        defer { try? file.close() }
        var buffer = [UInt8](repeating: 0, count: 64)
        guard let count = try? buffer.withUnsafeMutableBytes({ try file.read(into: $0) }), count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").first.map(String.init)
    }
}
