import Foundation
import Testing

/// Privileged tests need root (network namespaces). Outside CI a non-root run skips them;
/// with CI=true they always run, so a missing privilege fails loudly instead of passing silently.
enum Privileged {
    static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

/// Runs a program to completion, feeding `input` on stdin.
@discardableResult
func runProgram(_ path: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil) throws -> CommandResult {
    let stdin = try PipePair(), stdout = try PipePair(), stderr = try PipePair()
    let pid = try spawnProgram(path, arguments, environment: environment, stdin: stdin.read, stdout: stdout.write, stderr: stderr.write)
    close(stdin.read); close(stdout.write); close(stderr.write)
    // Feed stdin and drain stderr on their own threads, so a chatty child never blocks on a full pipe;
    // a child that stops reading early (weft refusing oversized input) only makes the write fail.
    let writer = Thread.detachedWork {
        var bytes = Array(input.utf8)
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(stdin.write, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            bytes.removeFirst(written)
        }
        close(stdin.write)
    }
    let errors = Thread.detachedRead(stderr.read)
    let out = readAll(stdout.read)
    close(stdout.read)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    writer.wait()
    let errorText = errors.finish()
    close(stderr.read)
    // Like Process.terminationStatus: the exit code, or the signal number for a killed child.
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : status & 0x7f
    return CommandResult(status: code, stdout: out, stderr: errorText)
}

/// Starts a program with a clean signal mask and default dispositions. Foundation's Process passes on
/// the test runner's blocked signals, with which SIGTERM never lands and podman's conmon never reaps.
func spawnProgram(_ path: String, _ arguments: [String], environment: [String: String]?,
                  stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
    signal(SIGPIPE, SIG_IGN)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdin, 0)
    posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    posix_spawn_file_actions_adddup2(&actions, stderr, 2)
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw TestFailure("spawn \(path): \(String(cString: strerror(rc)))") }
    return pid
}

/// A one-way channel whose ends are close-on-exec from birth, so a child spawned concurrently by another
/// test never inherits them (a stray copy of a write end would hold off EOF). A socketpair, because
/// socketpair takes SOCK_CLOEXEC where Swift's Glibc does not show pipe2.
struct PipePair {
    let read: Int32, write: Int32
    init() throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw TestFailure("socketpair: \(errno)")
        }
        read = fds[0]
        write = fds[1]
    }
}

func readAll(_ fd: Int32) -> String {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        data += chunk[0..<count]
    }
    return String(decoding: data, as: UTF8.self)
}

/// Work on a thread of its own, waited for with `wait`.
final class DetachedWork: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var text = ""

    init(_ body: @escaping @Sendable () -> String) {
        Thread.detachNewThread { [self] in
            text = body()
            done.signal()
        }
    }

    func wait() { done.wait() }

    func finish() -> String {
        done.wait()
        return text
    }
}

extension Thread {
    static func detachedWork(_ body: @escaping @Sendable () -> Void) -> DetachedWork { DetachedWork { body(); return "" } }
    static func detachedRead(_ fd: Int32) -> DetachedWork { DetachedWork { readAll(fd) } }
}

/// `ip …` on the host, for setting up and observing namespaces (tests may use the tools; the product may not).
@discardableResult
func ip(_ arguments: String...) throws -> CommandResult {
    try runProgram("/usr/sbin/ip", arguments)
}
