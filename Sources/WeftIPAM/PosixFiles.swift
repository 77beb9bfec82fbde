import SystemPackage
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the file syscalls the store uses, each failing with the errno it got.
enum PosixFiles {
    static func makeDirectory(_ path: String) throws {
        // 0700 because reservations name containers.
        try io { try DurableFile.makeDirectories(path, mode: 0o700) }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func read(_ path: String) throws -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let failure = SystemError.last("open", path)
            if failure.code == .noSuchFileOrDirectory { return nil }
            throw IPAMError.io(failure)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count: Int
            do {
                count = try retryingOnInterrupt("read", path) { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            } catch let failure as SystemError {
                throw IPAMError.io(failure)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Puts a record at `path` only if nothing is there (DurableFile.create): false when something is, so
    /// two writers never both win. Records are 0600: they name containers. Not fsynced
    /// (`.processCrash`): a power loss is a new boot, whose store drops them (DurableFile says why).
    static func publishExclusive(_ contents: String, at path: String) throws -> Bool {
        try io {
            try DurableFile.create(path, with: contents, mode: 0o600, durability: .processCrash) { FaultInjection.point("publish-after-temporary") }
        }
    }

    /// Replaces the record at `path` whole (DurableFile.replace), `durability` as the record needs:
    /// `.powerLoss` for the boot stamp only.
    static func publishReplacing(_ contents: String, at path: String, durability: DurableFile.Durability = .processCrash) throws {
        try io { try DurableFile.replace(path, with: contents, mode: 0o600, durability: durability) }
    }

    /// Whether a record can be written in `directory` now.
    static func checkWritable(_ directory: String) throws {
        try io { try DurableFile.checkWritable(directory) }
    }

    /// Runs a DurableFile call, its SystemError becoming the store's error.
    private static func io<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as SystemError {
            throw IPAMError.io(failure)
        }
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 {
            let failure = SystemError.last("unlink", path)
            if failure.code != .noSuchFileOrDirectory { throw IPAMError.io(failure) }
        }
    }
}

extension PosixFiles {
    /// Whether `directory` holds any entry other than temporary files, reading no further than the first.
    static func hasEntries(_ directory: String) throws -> Bool {
        guard let handle = opendir(directory) else {
            let failure = SystemError.last("opendir", directory)
            if failure.code == .noSuchFileOrDirectory { return false }
            throw IPAMError.io(failure)
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0.first ?? 0 }
            if first != UInt8(ascii: ".") { return true }
        }
        return false
    }

    static func list(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            let failure = SystemError.last("opendir", directory)
            if failure.code == .noSuchFileOrDirectory { return [] }
            throw IPAMError.io(failure)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
