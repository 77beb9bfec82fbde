import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a program run to completion left: its exit status, its output and its errors.
public struct ProgramResult {
    /// The exit code, or 128 + the signal's number for a killed program (the shell's convention).
    public let status: Int32
    /// The signal that ended the program, nil when it exited.
    public let signal: Int32?
    public let stdout: String
    public let stderr: String

    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

/// Runs a program to completion, feeding `input` on stdin. `environment` nil inherits the test
/// runner's. Tests set up and observe with tools (`ip`, `nft`, `tc`); the product never runs them.
@discardableResult
public func runProgram(_ path: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil) throws -> ProgramResult {
    let stdin = try PipePair(), stdout = try PipePair(), stderr = try PipePair()
    let pid = try spawnProgram(path, arguments, environment: environment, stdin: stdin.read, stdout: stdout.write, stderr: stderr.write)
    close(stdin.read); close(stdout.write); close(stderr.write)
    // Feed stdin and drain stderr on their own threads, so a chatty child never blocks on a full pipe;
    // a child that stops reading early (weft refusing oversized input) only makes the write fail.
    let writer = DetachedWork {
        var bytes = Array(input.utf8)
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(stdin.write, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            bytes.removeFirst(written)
        }
        close(stdin.write)
        return ""
    }
    let errors = DetachedWork { readAll(stderr.read) }
    let out = readAll(stdout.read)
    close(stdout.read)
    let status = waitForExit(pid)
    writer.wait()
    let errorText = errors.finish()
    close(stderr.read)
    return ProgramResult(status: status.code, signal: status.signal, stdout: out, stderr: errorText)
}

/// `ip …` on the host, for setting up and observing namespaces.
@discardableResult
public func ip(_ arguments: String...) throws -> ProgramResult {
    try runProgram("/usr/sbin/ip", arguments)
}

/// `/bin/sh -c command`; throws with its errors when it fails and `check` is set.
@discardableResult
public func sh(_ command: String, input: String = "", check: Bool = true) throws -> String {
    let result = try runProgram("/bin/sh", ["-c", command], input: input)
    if check && result.status != 0 { throw TestFailure("\(command): exit \(result.status): \(result.stderr)") }
    return result.stdout
}

/// Starts a program with a clean signal mask and default dispositions: Foundation's Process passes on
/// the test runner's blocked signals, with which SIGTERM never lands (a daemon never stops, podman's
/// conmon never reaps). The descriptors become the child's 0, 1 and 2; the caller closes its copies.
public func spawnProgram(
    _ path: String, _ arguments: [String], environment: [String: String]?,
    stdin: Int32, stdout: Int32, stderr: Int32
) throws -> pid_t {
    signal(SIGPIPE, SIG_IGN)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigfillset(&defaults)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdin, 0)
    posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    posix_spawn_file_actions_adddup2(&actions, stderr, 2)
    // Nothing else of the test process: swift-nio opens its sockets without SOCK_CLOEXEC, so a child
    // spawned while another test's server listens would hold that listening socket past the server's
    // close (its backlog taking connections, reset when the child exits: curl's exit 56 where a closed
    // port must refuse).
    // glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which the Glibc module does not export.
    if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw TestFailure("spawn \(path): \(String(cString: strerror(rc)))") }
    return pid
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: AddCloseFrom.self)
}

/// Waits for `pid`; its exit code (128 + signal when killed) and the signal.
public func waitForExit(_ pid: pid_t) -> (code: Int32, signal: Int32?) {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return exitStatus(status)
}

func exitStatus(_ status: Int32) -> (code: Int32, signal: Int32?) {
    (status & 0x7f) == 0 ? ((status >> 8) & 0xff, nil) : (128 + (status & 0x7f), status & 0x7f)
}

/// A program started in the background, its output going to `logPath`; stopped by its PID only.
public final class Daemon {
    public let pid: pid_t
    public let logPath: String
    private var reaped = false

    /// `arguments[0]` is the program's path. The environment is a plain PATH plus `environment`.
    public init(_ arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.logPath = logPath
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw TestFailure("open \(logPath)") }
        defer { close(log) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        env.merge(environment) { $1 }
        pid = try spawnProgram(arguments[0], Array(arguments.dropFirst()), environment: env, stdin: null, stdout: log, stderr: log)
    }

    /// Sends `signal` and waits for the exit; returns the wait status.
    @discardableResult
    public func stop(_ signal: Int32 = SIGKILL) -> Int32 {
        guard !reaped else { return 0 }
        kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        return status
    }

    /// The exit code once the program has ended by itself, nil while it runs.
    public func exitCode() -> Int32? {
        guard !reaped else { return 0 }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reaped = true
        return (status >> 8) & 0xff
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A one-way channel whose ends are close-on-exec from birth, so a child spawned concurrently by another
/// test never inherits them (a stray copy of a write end would hold off EOF). A socketpair, because
/// socketpair takes SOCK_CLOEXEC where Swift's Glibc does not show pipe2.
public struct PipePair: Sendable {
    public let read: Int32, write: Int32
    public init() throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw TestFailure("socketpair: \(errno)")
        }
        read = fds[0]
        write = fds[1]
    }
}

/// Everything `fd` yields until EOF.
public func readAll(_ fd: Int32) -> String {
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

/// Work on a thread of its own, waited for with `wait` or `finish`. Unchecked Sendable: `text` is
/// written once by the worker before `done` is signalled and read only after waiting on it.
public final class DetachedWork: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var text = ""

    public init(_ body: @escaping @Sendable () -> String) {
        Thread.detachNewThread { [self] in
            text = body()
            done.signal()
        }
    }

    public func wait() { done.wait() }

    public func finish() -> String {
        done.wait()
        return text
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; the seconds it took, nil on timeout.
public func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if try condition() { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return nil
}
