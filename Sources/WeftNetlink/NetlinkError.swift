import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A netlink request that failed: refused by the kernel, with its errno and, when it sent one, its
/// extended-ack text; or refused here before anything was sent (`refusal`), because a value cannot be
/// encoded: a validation failure of the caller's input, which the commands report as such.
public struct NetlinkError: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let code: Errno
    public let kernelMessage: String?
    /// Why the request was not sent; nil for the kernel's refusals.
    public let refusal: String?

    public init(_ operation: String, code: Errno, kernelMessage: String? = nil) {
        self.operation = operation
        self.code = code
        self.kernelMessage = kernelMessage
        refusal = nil
    }

    /// The kernel's errno as netlink carries it (a positive value).
    public init(_ operation: String, errno: Int32, kernelMessage: String? = nil) {
        self.init(operation, code: Errno(rawValue: errno), kernelMessage: kernelMessage)
    }

    private init(_ operation: String, code: Errno, refusal: String) {
        self.operation = operation
        self.code = code
        kernelMessage = nil
        self.refusal = refusal
    }

    /// A request not sent because `reason`: a value out of range (EINVAL) or one that does not fit (EMSGSIZE).
    public static func invalid(_ operation: String, _ reason: String, code: Errno = .invalidArgument) -> NetlinkError {
        NetlinkError(operation, code: code, refusal: reason)
    }

    public var errno: Int32 { code.rawValue }
    public var isValidation: Bool { refusal != nil }

    public var description: String {
        if let refusal { return "\(operation): \(refusal)" }
        let reason = String(cString: strerror(code.rawValue))
        if let kernelMessage, !kernelMessage.isEmpty { return "\(operation): \(reason) (kernel: \(kernelMessage))" }
        return "\(operation): \(reason)"
    }

    public var isExists: Bool { code == .fileExists }
    public var isNoDevice: Bool { code == .operationNotSupportedByDevice }
}
