import CWeftSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace file (a bind mount under /var/run/netns or /proc/PID/ns/net), opened and checked.
public final class NetworkNamespace {
    public let path: String
    private let file: FileDescriptor
    /// The open namespace file, for setns and for creating a veth end inside it (IFLA_NET_NS_FD).
    public var fd: Int32 { file.rawValue }

    /// Opens `path` and checks it is a namespace file: nsfs for bind mounts, procfs for /proc/PID/ns/net.
    public init(path: String) throws {
        do {
            file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        } catch let code as Errno {
            throw SystemError("open", path, code: code)
        }
        self.path = path
        // fstatfs is not in swift-system: the shim's.
        var type: UInt = 0
        guard weft_fstatfs_type(file.rawValue, &type) == 0 else {
            let failure = SystemError.last("statfs", path)
            try? file.close()
            throw failure
        }
        let magic = UInt32(truncatingIfNeeded: type)
        guard magic == weft_nsfs_magic || magic == weft_proc_super_magic else {
            try? file.close()
            throw SystemError("open network namespace", path, code: .invalidArgument)
        }
    }

    deinit { try? file.close() }

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
        let original: FileDescriptor
        do {
            original = try FileDescriptor.open("/proc/thread-self/ns/net", .readOnly, options: .closeOnExec)
        } catch let code as Errno {
            throw SystemError("open", "/proc/thread-self/ns/net", code: code)
        }
        defer { try? original.close() }
        // setns is not in swift-system: the shim's.
        guard setns(fd, weft_clone_newnet) == 0 else { throw SystemError.last("setns", path) }
        defer {
            // Failing to return would leave the thread in the pod's namespace; nothing after could be trusted.
            if setns(original.rawValue, weft_clone_newnet) != 0 { abort() }
        }
        return try body()
    }
}
