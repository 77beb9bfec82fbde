import Dispatch

/// The one executor for weftd's kernel work: a serial dispatch queue, off Swift's cooperative pool
/// (netlink calls block in the kernel, and the sockets they use are not thread-safe). The fabric
/// sends its jobs with `run`; the policy agent, whose every step may write nftables, is an actor
/// running on it (`unownedExecutor`), so fabric and policy changes never run at once. weftd runs in
/// the node's namespace and opens its sockets once, there; no job ever calls setns.
public final class KernelQueue: SerialExecutor, @unchecked Sendable {  // immutable: a serial DispatchQueue
    /// weftd's: the agent and the policy agent share it.
    public static let shared = KernelQueue()

    private let queue = DispatchQueue(label: "weftd.kernel")

    public init() {}

    /// Runs `body` on the queue and waits for it. The caller is suspended until the job has run, so
    /// `body` and what it captures are used by the queue's thread alone, once: not concurrently.
    public func run<T>(_ body: @escaping () throws -> T) async throws -> T {
        nonisolated(unsafe) let job = body
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                nonisolated(unsafe) let result = Result { try job() }
                continuation.resume(with: result)
            }
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}
