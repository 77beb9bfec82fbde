import Foundation
import Testing

/// Privileged tests need root (network namespaces). Outside CI a non-root run skips them;
/// with CI=true they always run, so a missing privilege fails loudly instead of passing silently.
enum Privileged {
    static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// A program started in the background, its output going to `logPath`; stopped by PID only.
final class Daemon {
    let pid: pid_t
    let logPath: String
    private var reaped = false

    init(_ arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.logPath = logPath
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw TestFailure("open \(logPath)") }
        defer { close(log) }
        pid = try spawn(arguments, stdin: open("/dev/null", O_RDONLY | O_CLOEXEC), stdout: log, stderr: log, environment: environment)
    }

    /// Sends `signal` and waits for the exit; returns the wait status.
    @discardableResult
    func stop(_ signal: Int32 = SIGKILL) -> Int32 {
        guard !reaped else { return 0 }
        kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        return status
    }

    /// The exit code once the program has ended by itself, nil while it runs.
    func exitCode() -> Int32? {
        guard !reaped else { return 0 }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reaped = true
        return (status >> 8) & 0xff
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// posix_spawn with a clean signal mask: the test runner's blocked signals would otherwise keep
/// SIGTERM from ever reaching a daemon.
func spawn(_ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32, environment: [String: String] = [:]) throws -> pid_t {
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
    var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    env.merge(environment) { $1 }
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
    if stdin > 2 { close(stdin) }
    guard rc == 0 else { throw TestFailure("spawn \(arguments[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// Runs a program to completion with `input` on stdin (through a temp file: no pipe to deadlock on).
@discardableResult
func run(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> Output {
    let directory = FileManager.default.temporaryDirectory.path
    let stamp = UUID().uuidString
    let inPath = "\(directory)/wt-in-\(stamp)", outPath = "\(directory)/wt-out-\(stamp)", errPath = "\(directory)/wt-err-\(stamp)"
    defer { for path in [inPath, outPath, errPath] { unlink(path) } }
    try input.write(toFile: inPath, atomically: false, encoding: .utf8)
    let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let pid = try spawn(arguments, stdin: open(inPath, O_RDONLY | O_CLOEXEC), stdout: out, stderr: err, environment: environment)
    close(out); close(err)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return Output(status: code, stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                  stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns the seconds it took, nil on timeout.
func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if try condition() { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return nil
}

/// The debug (or WEFT_BIN's) build of one of the package's executables.
func binary(_ name: String) -> String {
    let environment = ProcessInfo.processInfo.environment
    if name == "weftd", let weftd = environment["WEFTD_BIN"] { return weftd }
    if let weft = environment["WEFT_BIN"] {
        let beside = URL(fileURLWithPath: weft).deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return ".build/debug/\(name)"
}
