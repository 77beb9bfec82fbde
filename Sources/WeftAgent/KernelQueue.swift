import Dispatch

/// Runs kernel work one job at a time on a serial dispatch queue, off Swift's cooperative pool:
/// netlink calls block in the kernel, and the sockets they use are not thread-safe. weftd runs in
/// the node's namespace and opens its sockets once, there; no job ever calls setns.
public final class KernelQueue: @unchecked Sendable {
    private let queue = DispatchQueue(label: "weftd.kernel")

    public init() {}

    public func run<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
