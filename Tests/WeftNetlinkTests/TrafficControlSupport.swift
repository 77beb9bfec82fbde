import Foundation
import WeftTestSupport
import WeftNetlink
import WeftSystem

/// Throwaway network namespaces named `wt-<8 hex>-tc<label>`, deleted by `cleanup()` (run it in a defer).
final class ScratchNamespaces {
    let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
    private(set) var names: [String] = []
    private var servers: [Daemon] = []

    /// Creates a namespace with lo up; returns its name.
    func add(_ label: String) throws -> String {
        let name = "wt-\(id)-tc\(label)"
        let created = try runProgram("/usr/sbin/ip", ["netns", "add", name])
        guard created.status == 0 else { throw TestFailure("ip netns add \(name): \(created.stderr)") }
        names.append(name)
        try run(in: name, "/usr/sbin/ip", "link", "set", "lo", "up")
        return name
    }

    func path(_ name: String) -> String { "/var/run/netns/\(name)" }

    /// Runs a tool inside a namespace; throws when it fails.
    @discardableResult
    func run(in name: String, _ arguments: String...) throws -> String {
        let result = try runProgram("/usr/sbin/ip", ["netns", "exec", name] + arguments)
        guard result.status == 0 else {
            throw TestFailure("\(arguments.joined(separator: " ")) in \(name): \(result.stderr)")
        }
        return result.stdout
    }

    /// Starts a tool inside a namespace without waiting for it; `cleanup` kills it.
    func start(in name: String, _ arguments: String...) throws {
        servers.append(try Daemon(["/usr/sbin/ip", "netns", "exec", name] + arguments, logPath: "/dev/null"))
    }

    /// The index of `link` in namespace `name`, through Weft's own netlink code.
    func linkIndex(_ link: String, in name: String) throws -> Int32 {
        let netlink = try RouteNetlink(handle: NetlinkHandle(in: NetworkNamespace(path: path(name))))
        guard let found = try netlink.link(named: link) else { throw TestFailure("no link \(link) in \(name)") }
        return found.index
    }

    func cleanup() {
        // SIGKILL: a server left running would keep its deleted namespace alive.
        for server in servers { server.stop(SIGKILL) }
        servers = []
        for name in names.reversed() { _ = try? runProgram("/usr/sbin/ip", ["netns", "delete", name]) }
        names = []
    }
}
