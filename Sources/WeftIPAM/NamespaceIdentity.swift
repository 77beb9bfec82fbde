#if canImport(Glibc)
import Glibc
#endif

/// Tells whether the network namespace a reservation was made for still exists: the path must
/// still resolve to the same namespace (device and inode), since runtimes reuse paths and PIDs.
public enum NamespaceIdentity {
    public enum Liveness: String, Sendable { case live, gone, unknown }

    /// "device:inode" of the namespace file at `path`, or "" when there is none.
    public static func of(_ path: String) -> String {
        guard !path.isEmpty else { return "" }
        var info = stat()
        guard stat(path, &info) == 0 else { return "" }
        return "\(info.st_dev):\(info.st_ino)"
    }

    static func liveness(path: String, recordedID: String) -> Liveness {
        guard !path.isEmpty, !recordedID.isEmpty else { return .unknown }
        return of(path) == recordedID ? .live : .gone
    }
}
