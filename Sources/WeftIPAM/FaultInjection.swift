#if canImport(Glibc)
import Glibc
#endif

/// Crash points for tests: a debug build killed with SIGKILL at the named step, as kubelet's
/// timeout or an OOM kill would. Release builds compile this to nothing.
enum FaultInjection {
    static func point(_ name: StaticString) {
        #if DEBUG
        if let wanted = getenv("WEFT_TEST_KILL_AT"), String(cString: wanted) == "\(name)" {
            kill(getpid(), SIGKILL)
        }
        #endif
    }
}
