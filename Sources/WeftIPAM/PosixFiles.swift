import SystemPackage
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the file syscalls the store uses, each failing with the errno it got.
enum PosixFiles {
    static func makeDirectory(_ path: String) throws {
        // Every component, like mkdir -p; 0700 because reservations name containers.
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 {
                let failure = SystemError.last("mkdir", current)
                if failure.code != .fileExists { throw IPAMError.io(failure) }
            }
        }
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

    /// Writes `contents` in full to a new private temporary file in `directory` and returns its path.
    static func writeTemporary(_ contents: String, in directory: String) throws -> String {
        var template = Array("\(directory)/.tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        let path = String(cString: template)
        guard fd >= 0 else { throw IPAMError.io(SystemError("mkstemp", directory, errno: errno)) }
        defer { close(fd) }
        var remaining = Array(contents.utf8)
        while !remaining.isEmpty {
            do {
                let written = try retryingOnInterrupt("write", path) { remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
                remaining.removeFirst(written)
            } catch let failure as SystemError {
                unlink(path)
                throw IPAMError.io(failure)
            }
        }
        return path
    }

    /// Puts a fully written file at `path` only if nothing is there: link(2) fails with EEXIST otherwise,
    /// so a reader never sees a half-written record and two writers never both win.
    static func publishExclusive(_ contents: String, at path: String, directory: String) throws -> Bool {
        let temporary = try writeTemporary(contents, in: directory)
        FaultInjection.point("publish-after-temporary")
        defer { unlink(temporary) }
        if link(temporary, path) == 0 { return true }
        let failure = SystemError.last("link", path)
        if failure.code == .fileExists { return false }
        throw IPAMError.io(failure)
    }

    /// Replaces the file at `path` atomically with a fully written one.
    static func publishReplacing(_ contents: String, at path: String, directory: String) throws {
        let temporary = try writeTemporary(contents, in: directory)
        if rename(temporary, path) != 0 {
            let failure = errno
            unlink(temporary)
            throw IPAMError.io(SystemError("rename", path, errno: failure))
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
