#if canImport(Glibc)
import Glibc
#endif

/// Runs two independent pieces of teardown at once, on two OS threads of this process (so both stay
/// in the plugin's network namespace, which a new thread inherits from its creator). Deleting a veth
/// and deleting nft set elements each wait in the kernel for an RCU grace period (about 20 ms each
/// here): side by side the waits overlap. Both run to the end; the first error (the main thread's
/// first) is rethrown.
enum Overlap {
    static func run(_ main: () throws -> Void, beside other: @escaping () throws -> Void) throws {
        final class Box {
            let work: () throws -> Void
            var failure: Error?
            init(_ work: @escaping () throws -> Void) { self.work = work }
        }
        let box = Box(other)
        let context = Unmanaged.passRetained(box).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
                do { try box.work() } catch { box.failure = error }
                return nil
            }, context)
        guard started == 0 else {
            // No thread: do it here, one after the other.
            Unmanaged<Box>.fromOpaque(context).release()
            try main()
            try other()
            return
        }
        var mainFailure: Error?
        do { try main() } catch { mainFailure = error }
        pthread_join(thread, nil)
        if let mainFailure { throw mainFailure }
        if let failure = box.failure { throw failure }
    }
}
