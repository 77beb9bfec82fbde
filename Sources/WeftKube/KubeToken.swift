import Foundation

/// The bearer token KubeClient sends, kept fresh: a projected service-account token expires and
/// kubelet rewrites its file (an atomic symlink swap, so the inode changes), so the file is checked
/// before every request (one stat) and read again when its inode, size or mtime changed, and once
/// more after the API server answers 401. A token given inline (kubeconfig `token`) never changes.
final class KubeToken: @unchecked Sendable {  // every field behind `lock`
    private struct Stamp: Equatable {
        let device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
    }

    let path: String?
    private let lock = NSLock()
    private var token: String?
    private var stamp: Stamp?

    init(token: String?, path: String?) {
        self.token = token
        self.path = path
        stamp = path.flatMap(Self.stamp)
    }

    private static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
    }

    /// The token to send now: the file's contents when it changed since last read.
    var current: String? {
        guard let path else { return lock.withLock { token } }
        let now = Self.stamp(path)
        return lock.withLock {
            if now != stamp { read(path, stamp: now) }
            return token
        }
    }

    /// After a 401: reads the file whether or not it looks changed (a rewrite within the same mtime
    /// tick and size). False when there is no file, so the caller does not retry in vain.
    func reload() -> Bool {
        guard let path else { return false }
        let now = Self.stamp(path)
        return lock.withLock { read(path, stamp: now) }
    }

    /// Keeps the previous token when the file cannot be read (mid-rewrite): the API server says 401
    /// if it is no longer valid. Called with `lock` held.
    @discardableResult
    private func read(_ path: String, stamp now: Stamp?) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return false }
        token = trimmed
        stamp = now
        return true
    }
}
