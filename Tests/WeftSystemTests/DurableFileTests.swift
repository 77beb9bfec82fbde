import Foundation
import Testing
import WeftSystem

#if canImport(Glibc)
import Glibc
#endif

/// DurableFile: the one write of a file others read (temp file, fsync, rename or link, fsync of the
/// directory). What a reader can check: the contents replaced whole, the mode given, and no temporary
/// file left, whether the write succeeded or failed.
@Suite struct DurableFileTests {
    /// A fresh directory, removed after `body`.
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-durable-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    func entries(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func mode(_ path: String) -> mode_t? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return status.st_mode & 0o7777
    }

    /// Either durability: what a reader sees is the same (`.processCrash` only skips the fsyncs).
    @Test(arguments: [DurableFile.Durability.powerLoss, .processCrash])
    func theContentsAreReplacedWholeWithTheModeGiven(durability: DurableFile.Durability) throws {
        try withDirectory { directory in
            let path = "\(directory)/subnet.env"
            let long = String(repeating: "FLANNEL_NETWORK=10.244.0.0/16\n", count: 1000)
            try DurableFile.replace(path, with: long, mode: 0o600, durability: durability)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == long)
            #expect(mode(path) == 0o600)

            // Shorter contents: nothing of the old file is left past them, and the new mode is exact.
            try DurableFile.replace(path, with: "FLANNEL_MTU=1450\n", mode: 0o644, durability: durability)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "FLANNEL_MTU=1450\n")
            #expect(mode(path) == 0o644)
            try DurableFile.replace(path, with: "", mode: 0o644)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "")
            #expect(try entries(directory) == ["subnet.env"], "no temporary file left")
        }
    }

    @Test func missingDirectoriesAreMadeOnlyWhenAsked() throws {
        try withDirectory { directory in
            let path = "\(directory)/run/flannel/subnet.env"
            // Without directoryMode the write fails where the directory is missing, and leaves nothing.
            #expect {
                try DurableFile.replace(path, with: "x\n", mode: 0o644)
            } throws: { error in
                (error as? SystemError)?.code == .noSuchFileOrDirectory
            }
            #expect(try entries(directory) == [])
            // The same write with directoryMode is the positive control.
            try DurableFile.replace(path, with: "x\n", mode: 0o644, directoryMode: 0o755)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "x\n")
            #expect(try entries("\(directory)/run/flannel") == ["subnet.env"])
        }
    }

    /// The temporary file is written, then the rename fails (the target is a directory): the temporary
    /// file is removed and the target untouched. The same write once the directory is gone succeeds.
    @Test func aFailedRenameLeavesNoTemporaryFile() throws {
        try withDirectory { directory in
            let path = "\(directory)/10-weft.conflist"
            try FileManager.default.createDirectory(atPath: "\(path)/inside", withIntermediateDirectories: true)
            #expect {
                try DurableFile.replace(path, with: "{}\n", mode: 0o644)
            } throws: { error in
                (error as? SystemError)?.operation.hasPrefix("rename") == true
            }
            #expect(try entries(directory) == ["10-weft.conflist"])
            #expect(try entries(path) == ["inside"])

            try FileManager.default.removeItem(atPath: path)
            try DurableFile.replace(path, with: "{}\n", mode: 0o644)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "{}\n")
            #expect(try entries(directory) == ["10-weft.conflist"])
        }
    }

    /// create puts a file only where none is: a second writer gets false and the first one's contents
    /// stay; neither leaves a temporary file.
    @Test(arguments: [DurableFile.Durability.powerLoss, .processCrash])
    func createWinsOnceAndKeepsTheFirstContents(durability: DurableFile.Durability) throws {
        try withDirectory { directory in
            let path = "\(directory)/10.244.3.7"
            var killPoints = 0
            let first = try DurableFile.create(path, with: "first\neth0\n", mode: 0o600, durability: durability) { killPoints += 1 }
            let second = try DurableFile.create(path, with: "second\neth0\n", mode: 0o600, durability: durability) { killPoints += 1 }
            #expect(first && !second)
            #expect(killPoints == 2, "the kill point runs once the temporary file is complete, for each writer")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "first\neth0\n")
            #expect(mode(path) == 0o600)
            #expect(try entries(directory) == ["10.244.3.7"])
        }
    }

    @Test func aSymlinkReplacesAFileAndAnotherLink() throws {
        try withDirectory { directory in
            let path = "\(directory)/net.d/10-weft.conflist"
            try DurableFile.replace(path, with: "{}\n", mode: 0o644, directoryMode: 0o755)
            try DurableFile.replaceWithSymlink(path, to: "/run/weft/10-weft.conflist")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path) == "/run/weft/10-weft.conflist")
            try DurableFile.replaceWithSymlink(path, to: "/run/weft/other.conflist")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path) == "/run/weft/other.conflist")
            #expect(try entries("\(directory)/net.d") == ["10-weft.conflist"])
        }
    }

    @Test func checkWritableLeavesNothing() throws {
        try withDirectory { directory in
            try DurableFile.checkWritable(directory)
            #expect(try entries(directory) == [])
            #expect(throws: SystemError.self) { try DurableFile.checkWritable("\(directory)/missing") }
            #expect(DurableFile.isTemporary(".tmp-AbC123def456") && !DurableFile.isTemporary("10.244.3.7"))
        }
    }
}
