import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and the errno it set. The one error type for file,
/// namespace, sysctl and socket calls in every layer (the kernel's netlink replies have their own,
/// NetlinkError), so a failing sysctl write reads "write /proc/sys/…: Permission denied", never as a
/// refused netlink request. Callers match `code` by name (`.noSuchFileOrDirectory`).
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call and its object, as a reader would write it: "open /run/weft/ipam/cbr0/lock".
    public let operation: String
    public let code: Errno

    public init(_ call: String, _ object: String = "", code: Errno) {
        operation = object.isEmpty ? call : "\(call) \(object)"
        self.code = code
    }

    public init(_ call: String, _ object: String = "", errno: Int32) {
        self.init(call, object, code: Errno(rawValue: errno))
    }

    /// The raw value, for callers that still compare integers.
    public var errno: Int32 { code.rawValue }

    public var description: String { "\(operation): \(String(cString: strerror(code.rawValue)))" }

    /// The calling thread's errno, for the failure just seen.
    public static func last(_ call: String, _ object: String = "") -> SystemError {
        SystemError(call, object, errno: Glibc.errno)
    }
}

/// Runs a system call that returns -1 on failure, again while it fails with EINTR (a signal arrived
/// before it did anything); throws the SystemError of any other failure. For the calls swift-system
/// lacks (socket options, netlink, ioctl); FileDescriptor's own calls retry by themselves.
@discardableResult
public func retryingOnInterrupt<T: BinaryInteger>(_ call: String, _ object: String = "", _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let failure = errno
        if Errno(rawValue: failure) == .interrupted { continue }
        throw SystemError(call, object, errno: failure)
    }
}
