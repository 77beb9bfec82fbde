import WeftAddress

/// What can go wrong in address management, turned into CNI errors at the plugin's edge.
public enum IPAMError: Error, Equatable, CustomStringConvertible {
    /// Every address of the range is held.
    case exhausted(range: String, held: UInt64)
    /// Another process held the store's lock for longer than the bounded wait.
    case lockTimeout(path: String, seconds: Double)
    /// A file operation on the store failed.
    case io(operation: String, path: String, errno: Int32)
    /// The address asked for is held by someone else.
    case addressTaken(IPAddress, owner: String)

    public var description: String {
        switch self {
        case let .exhausted(range, held):
            return "no IP addresses available in range set: \(range) (\(held) held)"
        case let .lockTimeout(path, seconds):
            return "the IPAM store lock \(path) was held by another process for over \(seconds) s"
        case let .io(operation, path, errno):
            return "\(operation) \(path): \(String(cString: strerror(errno)))"
        case let .addressTaken(address, owner):
            return "address \(address) is already held by \(owner)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
