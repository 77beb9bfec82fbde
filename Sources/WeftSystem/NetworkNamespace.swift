import CWeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace file (a bind mount under /var/run/netns or /proc/PID/ns/net), opened and checked.
public final class NetworkNamespace {
    public let path: String
    public let fd: Int32

    /// Opens `path` and checks it is a namespace file: nsfs for bind mounts, procfs for /proc/PID/ns/net.
    public init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open", path) }
        self.path = path
        var type: UInt = 0
        guard weft_fstatfs_type(fd, &type) == 0 else {
            let failure = errno
            close(fd)
            throw SystemError("statfs", path, errno: failure)
        }
        let magic = UInt32(truncatingIfNeeded: type)
        guard magic == weft_nsfs_magic || magic == weft_proc_super_magic else {
            close(fd)
            throw SystemError("open network namespace", path, errno: EINVAL)
        }
    }

    deinit { close(fd) }

    /// Whether this is the namespace the calling thread is in: the host's own, for a plugin run by the runtime.
    /// A recycled PID can make a runtime hand a plugin its own namespace (plugins#714).
    public var isCurrentThreadNamespace: Bool { isSame(as: "/proc/thread-self/ns/net") }

    /// Whether this is PID 1's namespace: the host's, which no pod ever has, whichever namespace
    /// the plugin itself runs in.
    public var isInitNamespace: Bool { isSame(as: "/proc/1/ns/net") }

    private func isSame(as path: String) -> Bool {
        var other = stat()
        var mine = stat()
        guard stat(path, &other) == 0, fstat(fd, &mine) == 0 else { return false }
        return other.st_dev == mine.st_dev && other.st_ino == mine.st_ino
    }

    /// Runs `body` with the calling thread inside this namespace, then switches back.
    /// setns(2) moves only the calling thread, so `body` must be synchronous.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw SystemError.last("open", "/proc/thread-self/ns/net") }
        defer { close(original) }
        guard setns(fd, weft_clone_newnet) == 0 else { throw SystemError.last("setns", path) }
        defer {
            // Failing to return would leave the thread in the pod's namespace; nothing after could be trusted.
            if setns(original, weft_clone_newnet) != 0 { abort() }
        }
        return try body()
    }
}
