import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The one way Weft puts a file where others read it: weftd's subnet.env, CNI conflist (and its link),
/// state file and claims file, and every record of the IPAM store. Failures are SystemError.
///
/// One durability for all of them: the contents go to a temporary file in the target's directory,
/// which is fsynced, then renamed (or, for `create`, linked) over the target, then the directory is
/// fsynced. Why each step:
/// - A reader (the plugin, the runtime, weftctl), at any moment, sees the old file or the new one,
///   never half of one: rename(2) and link(2) switch the name in one step. They work within one
///   filesystem only (EXDEV), hence the same directory.
/// - fsync of the file before the rename: the rename is metadata the journal may commit before the
///   file's data is written (ext4's delayed allocation), so after a power loss the name could point at
///   an empty file. ext4's auto_da_alloc covers a rename over an existing file, not a new name nor
///   link(2), and other filesystems promise nothing.
/// - fsync of the directory: the new entry is the directory's data; until it is on disk a power loss
///   can bring back the old file, or no file at all.
///
/// What that protects: a node that loses power must not come back with an empty or missing subnet.env
/// or conflist (the runtime would load a network it cannot read, every ADD failing until weftd runs
/// again), nor an empty claims file. In the IPAM store, the boot stamp must be on disk before
/// any record written after it: a store whose stamp came back empty or missing keeps its records as of
/// no known boot (StoreBoot), addresses held by pods that are gone; and no record may read back empty.
/// On tmpfs (the store's default, /run) fsync returns at once: the kernel has nothing to write.
///
/// The exceptions, named at their calls (`Durability.processCrash`): weftd's state file (rewritten at
/// every reconcile, and by weftd at its start after a power loss) and the IPAM store's address and
/// owner records skip both fsyncs. A power loss is a reboot, and a store drops every record of an earlier boot
/// (StoreBoot) whatever it reads back, so their fsyncs bought nothing but latency: six per ADD, about
/// 30 ms on this machine's ext4 (a store on disk, as host-local's default is). Their boot stamp is
/// written `.powerLoss`, before any of them. The name still switches in one step, so a process killed
/// midway (what the store does have to survive) leaves the old record or the new one.
///
/// Temporary names are `.tmp-` and 12 random letters and digits, created exclusively, so two writers
/// (two weftd, a replacement starting while the old one stops) never share one. They begin with a dot
/// and end in an extension libcni's ConfFiles does not load (it takes .conf, .conflist and .json); one
/// is left only by a writer killed midway, and the IPAM store removes those under its lock.
public enum DurableFile {
    /// What a write survives once it returns.
    public enum Durability: Sendable {
        /// A power loss: the file and its directory fsynced.
        case powerLoss
        /// A crash of the writing process only: the name switched in one step, nothing fsynced.
        case processCrash
    }

    /// How every temporary name begins.
    public static let temporaryPrefix = ".tmp-"

    /// Replaces `path` whole with `contents`, the file's mode exactly `mode` (whatever the umask).
    /// With `directoryMode`, missing directories up to it are made first (mkdir -p). On failure the
    /// target is as it was (unless only the final directory fsync failed) and no temporary file is left.
    public static func replace(
        _ path: String, with contents: String, mode: mode_t, directoryMode: mode_t? = nil, durability: Durability = .powerLoss
    ) throws {
        let directory = directoryOf(path)
        if let directoryMode { try makeDirectories(directory, mode: directoryMode) }
        let temporary = try writeTemporary(contents, mode: mode, in: directory, durability: durability)
        try renameIntoPlace(temporary, path, in: directory, durability: durability)
    }

    /// Puts `contents` at `path` only if nothing is there: false when something is (link(2) fails with
    /// EEXIST), so two writers never both win and a reader never sees a half-written file.
    /// `afterWriting` runs once the temporary file is complete, before it is linked: a test's kill point.
    public static func create(
        _ path: String, with contents: String, mode: mode_t, durability: Durability = .powerLoss, afterWriting: () -> Void = {}
    ) throws -> Bool {
        let directory = directoryOf(path)
        let temporary = try writeTemporary(contents, mode: mode, in: directory, durability: durability)
        afterWriting()
        let linked = link(temporary, path) == 0
        let failure = linked ? nil : SystemError.last("link", "\(temporary) to \(path)")
        unlink(temporary)
        if let failure {
            if failure.code == .fileExists { return false }
            throw failure
        }
        // One fsync commits both the new name and the temporary one's removal.
        if durability == .powerLoss { try syncDirectory(directory) }
        return true
    }

    /// Replaces `path` with a symbolic link to `target`: made under a temporary name, renamed over it.
    public static func replaceWithSymlink(_ path: String, to target: String, directoryMode: mode_t? = nil) throws {
        let directory = directoryOf(path)
        if let directoryMode { try makeDirectories(directory, mode: directoryMode) }
        let temporary = try newTemporary(in: directory) { name in
            if symlink(target, name) == 0 { return true }
            let failure = SystemError.last("symlink", "\(name) -> \(target)")
            if failure.code == .fileExists { return false }
            throw failure
        }
        try renameIntoPlace(temporary, path, in: directory)
    }

    /// Whether a file can be written in `directory` now (not full, not read-only): a temporary file is
    /// written and removed. Nothing to keep, so nothing fsynced (the plugin's STATUS asks it often).
    public static func checkWritable(_ directory: String) throws {
        let temporary = try writeTemporary("", mode: 0o600, in: directory, durability: .processCrash)
        unlink(temporary)
    }

    /// mkdir -p: every missing directory of `path`, each made with `mode` (less the umask).
    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 {
                let failure = SystemError.last("mkdir", current)
                if failure.code != .fileExists { throw failure }
            }
        }
    }

    /// Whether `name` (a directory entry) is a temporary file of this type's.
    public static func isTemporary(_ name: String) -> Bool { name.hasPrefix(temporaryPrefix) }

    static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A new temporary file in `directory` holding `contents`, its mode `mode`, fsynced (`.powerLoss`) and
    /// closed; on failure none is left.
    static func writeTemporary(_ contents: String, mode: mode_t, in directory: String, durability: Durability = .powerLoss) throws -> String {
        try newTemporary(in: directory) { name in
            let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let failure = SystemError.last("open", name)
                if failure.code == .fileExists { return false }
                throw failure
            }
            do {
                try fill(fd, name: name, contents, mode: mode, sync: durability == .powerLoss)
            } catch {
                close(fd)
                unlink(name)
                throw error
            }
            // close(2) reports a write error some filesystems (NFS) hold until then; never retried (the
            // descriptor is gone whatever it returns).
            if close(fd) != 0 {
                let failure = SystemError.last("close", name)
                unlink(name)
                throw failure
            }
            return true
        }
    }

    private static func fill(_ fd: Int32, name: String, _ contents: String, mode: mode_t, sync: Bool) throws {
        // open(2)'s mode is cut by the umask; fchmod(2)'s is not.
        try retryingOnInterrupt("fchmod", name) { fchmod(fd, mode) }
        var remaining = Array(contents.utf8)[...]
        while !remaining.isEmpty {
            let written = try retryingOnInterrupt("write", name) { remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            remaining = remaining.dropFirst(written)
        }
        if sync { try retryingOnInterrupt("fsync", name) { fsync(fd) } }
    }

    /// A temporary name in `directory` that `make` brought into existence: `make` returns false when
    /// the name is taken (EEXIST from O_EXCL or symlink(2)), and another is tried.
    static func newTemporary(in directory: String, make: (String) throws -> Bool) throws -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        for _ in 0..<100 {
            let letters = (0..<12).map { _ in alphabet.randomElement() ?? UInt8(ascii: "x") }
            let name = "\(directory)/\(temporaryPrefix)\(String(decoding: letters, as: UTF8.self))"
            if try make(name) { return name }
        }
        throw SystemError("open", "\(directory)/\(temporaryPrefix)…: 100 random names taken", code: .fileExists)
    }

    /// rename(2) of the temporary name over `path` (the temporary removed when it fails), then the
    /// directory fsynced (`.powerLoss`).
    static func renameIntoPlace(_ temporary: String, _ path: String, in directory: String, durability: Durability = .powerLoss) throws {
        guard rename(temporary, path) == 0 else {
            let failure = SystemError.last("rename", "\(temporary) to \(path)")
            unlink(temporary)
            throw failure
        }
        if durability == .powerLoss { try syncDirectory(directory) }
    }

    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open", directory) }
        defer { close(fd) }
        try retryingOnInterrupt("fsync", directory) { fsync(fd) }
    }
}
