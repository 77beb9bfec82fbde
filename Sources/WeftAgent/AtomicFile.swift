import Foundation
import WeftSystem

/// Files weftd replaces while others read them (subnet.env, the conflist and its link, the state
/// file): a reader sees the old file or the new one, never a half-written one.
public enum AtomicFile {
    /// Writes `text` to `path` atomically: a reader (the plugin, at any moment) sees the old file or
    /// the new one, never a half-written one. The temp file is in the same directory so rename(2)
    /// stays within one filesystem.
    public static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        try replace(path) { temporary in
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            guard fd >= 0 else { throw AgentError(.file, SystemError.last("open", temporary).description) }
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            // fsync before rename: after a crash the name never points at an empty file.
            let synced = fsync(fd)
            close(fd)
            guard written == bytes.count, synced == 0 else { throw AgentError(.file, "cannot write \(temporary)") }
        }
    }

    /// Replaces `path` atomically by what `make` creates at a temporary name beside it (same
    /// directory, so rename(2) stays within one filesystem; an extension, `.tmp.<pid>.<random>`,
    /// libcni's ConfFiles does not load), creating the directory if needed. The name is unique per
    /// call, not per process: weftd is PID 1 in every container, and two of them (a replacement
    /// starting while the old one stops, one run by hand) must not share it. Whatever `make` left is
    /// removed when it or the rename fails.
    static func replace(_ path: String, make: (String) throws -> Void) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.file, "cannot create \(directory): \(error)")
        }
        let temporary = "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        do {
            try make(temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = SystemError.last("rename", "\(temporary) to \(path)")
            unlink(temporary)
            throw AgentError(.file, failure.description)
        }
    }
}
