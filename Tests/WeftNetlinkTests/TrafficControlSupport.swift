import Foundation
import WeftNetlink
import WeftSystem

/// Privileged tests need root (network namespaces). Outside CI a non-root run skips them; with CI=true
/// they always run, so a missing privilege fails loudly instead of passing silently.
enum TrafficControlPrivileges {
    static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

struct ToolResult {
    let status: Int32
    let output: String
    let errors: String
}

struct ToolFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a tool (`ip`, `tc`, `iperf3`) to completion. Tests set up and observe with them; the product never does.
@discardableResult
func tool(_ path: String, _ arguments: [String]) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Read before waiting, so a chatty tool never blocks on a full pipe.
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                      errors: String(decoding: err, as: UTF8.self))
}

/// Throwaway network namespaces named `wt-<8 hex>-tc<label>`, deleted by `cleanup()` (run it in a defer).
final class ScratchNamespaces {
    let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
    private(set) var names: [String] = []
    private var servers: [Process] = []

    /// Creates a namespace with lo up; returns its name.
    func add(_ label: String) throws -> String {
        let name = "wt-\(id)-tc\(label)"
        let created = try tool("/usr/sbin/ip", ["netns", "add", name])
        guard created.status == 0 else { throw ToolFailure(description: "ip netns add \(name): \(created.errors)") }
        names.append(name)
        try run(in: name, "/usr/sbin/ip", "link", "set", "lo", "up")
        return name
    }

    func path(_ name: String) -> String { "/var/run/netns/\(name)" }

    /// Runs a tool inside a namespace; throws when it fails.
    @discardableResult
    func run(in name: String, _ arguments: String...) throws -> String {
        let result = try tool("/usr/sbin/ip", ["netns", "exec", name] + arguments)
        guard result.status == 0 else {
            throw ToolFailure(description: "\(arguments.joined(separator: " ")) in \(name): \(result.errors)")
        }
        return result.output
    }

    /// Starts a tool inside a namespace without waiting for it; `cleanup` kills it.
    func start(in name: String, _ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", name] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.append(process)
    }

    /// The index of `link` in namespace `name`, through Weft's own netlink code.
    func linkIndex(_ link: String, in name: String) throws -> Int32 {
        let netlink = try RouteNetlink(handle: NetlinkHandle(in: NetworkNamespace(path: path(name))))
        guard let found = try netlink.link(named: link) else { throw ToolFailure(description: "no link \(link) in \(name)") }
        return found.index
    }

    func cleanup() {
        for server in servers where server.isRunning {
            // SIGKILL: a server left running would keep its deleted namespace alive.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        for name in names.reversed() { _ = try? tool("/usr/sbin/ip", ["netns", "delete", name]) }
        names = []
    }
}
