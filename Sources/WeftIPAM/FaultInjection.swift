#if canImport(Glibc)
import Glibc
#endif

/// Test hooks, compiled only into debug builds: WEFT_TEST_KILL_AT=<point> kills the process with SIGKILL
/// at that step, as kubelet's timeout or the OOM killer would; WEFT_TEST_LOCK_TIMEOUT shortens the bounded
/// wait for the store's lock. Release builds ignore both.
public enum FaultInjection {
    public static func point(_ name: StaticString) {
        #if DEBUG
        if let wanted = getenv("WEFT_TEST_KILL_AT"), String(cString: wanted) == "\(name)" {
            kill(getpid(), SIGKILL)
        }
        #endif
    }

    static var lockTimeout: Double? {
        #if DEBUG
        if let text = getenv("WEFT_TEST_LOCK_TIMEOUT") { return Double(String(cString: text)) }
        #endif
        return nil
    }
}
