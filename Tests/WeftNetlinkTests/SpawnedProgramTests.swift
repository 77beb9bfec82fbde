import Foundation
import Testing
import WeftTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The test support's programs inherit no descriptor of the test process but stdin, stdout and stderr:
/// a listening socket another test closes must not live on in a child (swift-nio's sockets are not
/// close-on-exec).
@Suite struct SpawnedProgramTests {
    @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
        let held = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(held > 2)
        defer { close(held) }
        // The control: the descriptor is open here, and not close-on-exec.
        #expect(FileManager.default.fileExists(atPath: "/proc/self/fd/\(held)"))
        #expect(fcntl(held, F_GETFD) & FD_CLOEXEC == 0)
        // The child lists its own descriptors: 0-2 and the one `ls` opens on the directory.
        let listed = try runProgram("/bin/ls", ["/proc/self/fd"])
        #expect(listed.status == 0)
        let descriptors = listed.stdout.split(separator: "\n").compactMap { Int32($0) }
        #expect(Set(descriptors).isSubset(of: [0, 1, 2, 3]), "\(descriptors)")
    }
}
