import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Tells whether the network namespace a reservation was made for still exists: the path must
/// still resolve to the same namespace (device and inode), since runtimes reuse paths and PIDs.
public enum NamespaceIdentity {
    public enum Liveness: String, Sendable { case live, gone, unknown }

    /// "device:inode" of the namespace file at `path`, or "" when there is none.
    public static func of(_ path: String) -> String {
        guard case .found(let id) = lookup(path) else { return "" }
        return id
    }

    /// Only a path that does not exist (ENOENT) or now names another namespace is gone. Any other
    /// failure to look (EACCES, ELOOP, EIO, ENOMEM, …) says nothing about the namespace: its
    /// reservation is unknown and never reclaimed, so a live pod's address is never handed out again.
    static func liveness(path: String, recordedID: String) -> Liveness {
        guard !path.isEmpty, !recordedID.isEmpty else { return .unknown }
        switch lookup(path) {
        case .found(let id): return id == recordedID ? .live : .gone
        case .absent: return .gone
        case .unreadable: return .unknown
        }
    }

    private enum Lookup { case found(String), absent, unreadable }

    private static func lookup(_ path: String) -> Lookup {
        guard !path.isEmpty else { return .absent }
        var info = stat()
        guard stat(path, &info) == 0 else { return Errno(rawValue: errno) == .noSuchFileOrDirectory ? .absent : .unreadable }
        return .found("\(info.st_dev):\(info.st_ino)")
    }
}
