#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex that outlives every thread using it (the plugin's netlink runs on plain threads,
/// not Swift concurrency): the handle's table of sockets and each socket's exchange hold one.
final class ThreadLock {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
