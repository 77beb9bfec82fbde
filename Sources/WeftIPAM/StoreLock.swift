import SystemPackage
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock on the store's lock file, waited for with a bound: a holder that is
/// stopped (SIGSTOP, a hung NFS read) must turn into "try again later", never a hung kubelet.
final class StoreLock {
    private let fd: Int32

    init(path: String, timeoutSeconds: Double) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IPAMError.io(SystemError("open", path, errno: errno)) }
        var waited = 0.0
        var pause = 0.0005
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let failure = SystemError.last("flock", path)
            // EWOULDBLOCK: another process holds it; EINTR: a signal arrived first. Both wait and retry.
            guard failure.code == .wouldBlock || failure.code == .interrupted else {
                close(fd)
                throw IPAMError.io(failure)
            }
            if waited >= timeoutSeconds {
                close(fd)
                throw IPAMError.lockTimeout(path: path, seconds: timeoutSeconds)
            }
            usleep(useconds_t(pause * 1_000_000))
            waited += pause
            pause = min(pause * 2, 0.02)
        }
    }

    deinit { close(fd) }
}
