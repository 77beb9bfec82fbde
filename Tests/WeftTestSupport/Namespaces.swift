import Foundation

/// The test targets' one network-namespace helper. Privileged tests work in throwaway namespaces named
/// `wt-<8 hex>-<label>` (unique per test, so parallel suites never meet), created here and deleted in
/// the test's cleanup even when it fails; nothing touches the host's root namespace.
public enum TestNamespace {
    /// A fresh id for one test's namespace names: 8 lowercase hex digits.
    public static func uniqueID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
    }

    /// Where `ip netns add` binds the namespace, for setns and CNI_NETNS.
    public static func path(_ name: String) -> String { "/var/run/netns/\(name)" }

    /// Creates namespace `name`, with its loopback up unless `loopbackUp` is false (a pod namespace
    /// before the plugin's ADD); throws with ip's error when either step fails.
    public static func add(_ name: String, loopbackUp: Bool = true) throws {
        let created = try ip("netns", "add", name)
        guard created.status == 0 else { throw TestFailure("ip netns add \(name): \(created.stderr)") }
        guard loopbackUp else { return }
        let up = try ip("-n", name, "link", "set", "lo", "up")
        guard up.status == 0 else {
            delete(name)
            throw TestFailure("ip -n \(name) link set lo up: \(up.stderr)")
        }
    }

    /// Deletes namespace `name`; one already gone is no error (cleanup runs after failures too).
    public static func delete(_ name: String) {
        _ = try? ip("netns", "delete", name)
    }
}

/// Throwaway namespaces named `wt-<8 hex>-<prefix><label>`, deleted by `cleanup()` (run it in a defer),
/// with the servers started inside them.
public final class ScratchNamespaces {
    public let id = TestNamespace.uniqueID()
    public let prefix: String
    public private(set) var names: [String] = []
    private var servers: [Daemon] = []

    public init(prefix: String = "") { self.prefix = prefix }

    /// Creates a namespace with lo up; returns its name.
    public func add(_ label: String) throws -> String {
        let name = "wt-\(id)-\(prefix)\(label)"
        try TestNamespace.add(name)
        names.append(name)
        return name
    }

    public func path(_ name: String) -> String { TestNamespace.path(name) }

    /// Runs a tool inside a namespace; throws when it fails.
    @discardableResult
    public func run(in name: String, _ arguments: String...) throws -> String {
        let result = try runProgram("/usr/sbin/ip", ["netns", "exec", name] + arguments)
        guard result.status == 0 else {
            throw TestFailure("\(arguments.joined(separator: " ")) in \(name): \(result.stderr)")
        }
        return result.stdout
    }

    /// Starts a tool inside a namespace without waiting for it; `cleanup` kills it.
    public func start(in name: String, _ arguments: String...) throws {
        servers.append(try Daemon(["/usr/sbin/ip", "netns", "exec", name] + arguments, logPath: "/dev/null"))
    }

    public func cleanup() {
        // SIGKILL: a server left running would keep its deleted namespace alive.
        for server in servers { server.stop(SIGKILL) }
        servers = []
        for name in names.reversed() { TestNamespace.delete(name) }
        names = []
    }
}
