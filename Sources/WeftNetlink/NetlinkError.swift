#if canImport(Glibc)
import Glibc
#endif

/// A failed netlink or namespace operation, with the kernel's errno and, when it sent one, its extended-ack text.
public struct NetlinkError: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public let kernelMessage: String?

    public init(_ operation: String, errno: Int32, kernelMessage: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.kernelMessage = kernelMessage
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let kernelMessage, !kernelMessage.isEmpty { return "\(operation): \(reason) (kernel: \(kernelMessage))" }
        return "\(operation): \(reason)"
    }

    public var isExists: Bool { errno == EEXIST }
    public var isNoDevice: Bool { errno == ENODEV }
}
