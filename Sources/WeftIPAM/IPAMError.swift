import WeftAddress
import WeftSystem

/// What can go wrong in address management, turned into CNI errors at the plugin's edge.
public enum IPAMError: Error, Equatable, CustomStringConvertible {
    /// Every address of the range is held.
    case exhausted(range: String, held: UInt64, stale: UInt64)
    /// Another process held the store's lock for longer than the bounded wait.
    case lockTimeout(path: String, seconds: Double)
    /// A file operation on the store failed.
    case io(SystemError)
    /// An address file appeared under our feet: a writer ignored the lock.
    case addressTaken(IPAddress, owner: String)
    /// The address asked for (runtimeConfig.ips, CNI_ARGS IP=) cannot be given.
    case requestedUnavailable(IPAddress, reason: String)
    /// Every device of the device datapath's pool is held by a pod or missing from the node.
    case devicesExhausted(pool: [String], holders: [String])

    /// What an operator needs beside the message: for exhaustion, how many are held and how many were stale.
    public var details: String {
        if case let .exhausted(_, held, stale) = self {
            return "\(held) addresses held, \(stale) stale reservations (netns gone) reclaimed before giving up"
        }
        if case let .devicesExhausted(_, holders) = self { return holders.joined(separator: "; ") }
        return ""
    }

    public var description: String {
        switch self {
        case let .exhausted(range, _, _):
            return "no IP addresses available in range set: \(range)"
        case let .lockTimeout(path, seconds):
            return "the IPAM store lock \(path) was held by another process for over \(seconds) s"
        case let .io(failure):
            return failure.description
        case let .addressTaken(address, owner):
            return "address \(address) is already held by \(owner)"
        case let .devicesExhausted(pool, _):
            return "no free device in the pool (\(pool.joined(separator: ", "))): each is held by a pod or missing from the node"
        case let .requestedUnavailable(address, reason):
            return "requested address \(address) cannot be assigned: \(reason)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
