import CWeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Where the store lives decides how it stays leak-proof across reboots: a tmpfs is empty after one;
/// on disk the store is stamped with the boot ID and everything from an earlier boot is dropped.
public enum StoreMedium: String, Sendable {
    case tmpfs, disk

    /// The medium of the nearest existing directory at or above `path`.
    public static func of(_ path: String) -> StoreMedium {
        var current = path
        while true {
            var type: UInt = 0
            if weft_statfs_type(current, &type) == 0 {
                let magic = UInt32(truncatingIfNeeded: type)
                return magic == weft_tmpfs_magic || magic == weft_ramfs_magic ? .tmpfs : .disk
            }
            guard let slash = current.lastIndex(of: "/"), current != "/" else { return .disk }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
    }

    /// This boot's ID, which the kernel picks at random on every boot.
    public static func currentBootID() -> String {
        (try? PosixFiles.read("/proc/sys/kernel/random/boot_id"))?
            .split(separator: "\n").first.map(String.init) ?? "unknown"
    }
}
