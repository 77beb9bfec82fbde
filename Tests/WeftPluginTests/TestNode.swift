import Foundation
import Testing
import WeftTestSupport

/// A throwaway node: a network namespace standing for the Kubernetes node (bridge, veth host ends,
/// sysctls), pod namespaces, and a temp directory with subnet.env and the IPAM store.
/// Everything is removed by `cleanup()`, which `withNode` runs even when the test fails.
/// Unchecked Sendable: what changes (pods, servers) changes on the test's own thread; the work some
/// tests run concurrently (`weft`, `execIn`) reads only names fixed at creation.
final class TestNode: @unchecked Sendable {
    /// The binary under test: beside WEFT_BIN (the release build under `make test`), else the debug build.
    static func binary(_ name: String) -> String {
        if name == "weftctl", let weftctl = ProcessInfo.processInfo.environment["WEFTCTL_BIN"] { return weftctl }
        if let weft = ProcessInfo.processInfo.environment["WEFT_BIN"] {
            return URL(fileURLWithPath: weft).deletingLastPathComponent().appendingPathComponent(name).path
        }
        return debugBinary(name)
    }

    /// The debug build beside the test bundle, which alone honours WEFT_TEST_KILL_AT.
    static func debugBinary(_ name: String) -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return ".build/debug/\(name)"
    }

    static var weftBinary: String { binary("weft") }

    let id: String
    let name: String
    let directory: String
    private(set) var pods: [String] = []
    /// Numbers pod namespaces; never reused, so a pod added after one was deleted gets a new name.
    private var podsCreated = 0
    /// Servers started in the node's namespaces, stopped by cleanup.
    var servers: [pid_t] = []

    var namespacePath: String { "/var/run/netns/\(name)" }
    var subnetFile: String { "\(directory)/subnet.env" }
    var dataDir: String { "\(directory)/ipam" }

    init(subnetEnv: String = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n") throws {
        id = TestNamespace.uniqueID()
        name = "wt-\(id)-node"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-test-\(id)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try subnetEnv.write(toFile: subnetFile, atomically: true, encoding: .utf8)
        try TestNamespace.add(name)
    }

    /// A new pod namespace; returns its path.
    func addPod(_ label: String = "pod") throws -> String {
        let podName = "wt-\(id)-\(label)\(podsCreated)"
        podsCreated += 1
        try TestNamespace.add(podName, loopbackUp: false)
        pods.append(podName)
        return TestNamespace.path(podName)
    }

    func deletePod(_ path: String) throws {
        let podName = URL(fileURLWithPath: path).lastPathComponent
        try ip("netns", "delete", podName)
        pods.removeAll { $0 == podName }
    }

    func cleanup() {
        for server in servers {
            kill(server, SIGKILL)
            var status: Int32 = 0
            waitpid(server, &status, 0)
        }
        for pod in pods { TestNamespace.delete(pod) }
        TestNamespace.delete(name)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A flannel-style config for this node: stock delegate keys plus this node's subnet file and store.
    func config(version: String = "0.3.1", extra: String = "", delegate: String = #""hairpinMode":true,"isDefaultGateway":true"#) -> String {
        #"{"cniVersion":"\#(version)","name":"cbr0","type":"weft","subnetFile":"\#(subnetFile)","dataDir":"\#(dataDir)","delegate":{\#(delegate)}\#(extra)}"#
    }

    /// Runs the weft binary inside the node namespace as a runtime would: CNI_* variables and the config on stdin.
    func weft(
        _ command: String, containerID: String = "", netns: String = "", ifname: String = "eth0",
        config: String, extraEnvironment: [String: String] = [:]
    ) throws -> ProgramResult {
        var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_PATH": "/opt/cni/bin"]
        if !containerID.isEmpty { environment["CNI_CONTAINERID"] = containerID }
        if !netns.isEmpty { environment["CNI_NETNS"] = netns }
        if !ifname.isEmpty { environment["CNI_IFNAME"] = ifname }
        environment.merge(extraEnvironment) { $1 }
        return try runProgram("/usr/bin/nsenter", ["--net=\(namespacePath)", TestNode.weftBinary], input: config, environment: environment)
    }

    /// ADD that must succeed; returns the result object.
    func add(containerID: String, netns: String, ifname: String = "eth0", config: String? = nil) throws -> [String: Any] {
        let result = try weft("ADD", containerID: containerID, netns: netns, ifname: ifname, config: config ?? self.config())
        guard result.status == 0, let json = result.json else {
            throw TestFailure("ADD \(containerID) failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return json
    }

    /// A command inside the node namespace.
    @discardableResult
    func exec(_ arguments: String...) throws -> ProgramResult {
        try runProgram("/usr/sbin/ip", ["netns", "exec", name] + arguments)
    }

    /// A command inside a pod namespace.
    @discardableResult
    func execIn(_ podPath: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/usr/sbin/ip", ["netns", "exec", URL(fileURLWithPath: podPath).lastPathComponent] + arguments)
    }

    func ping(from podPath: String, to address: String) throws -> Bool {
        try execIn(podPath, "ping", "-c", "1", "-W", "2", address).status == 0
    }

    /// Waits until no IPv6 address of the node is still tentative (DAD runs for about a second after a
    /// link comes up; when it ends the kernel adds the address's `local` route). A snapshot taken
    /// before that differs from one taken after for reasons no code under test owns.
    func settle() throws {
        for _ in 0..<200 {
            if try runProgram("/usr/sbin/ip", ["-n", name, "-6", "-o", "addr", "show", "tentative"]).stdout.isEmpty { return }
            usleep(50_000)
        }
        throw TestFailure("IPv6 addresses of \(name) still tentative after 10 s")
    }

    /// What a bad-input test compares before and after: links, addresses, routes and the IPAM store,
    /// of a settled node.
    func snapshot() throws -> String {
        try settle()
        let links = try exec("ip", "-o", "link", "show").stdout
        let addresses = try exec("ip", "-o", "addr", "show").stdout
        let routes = try exec("ip", "route", "show", "table", "all").stdout
        let store = (FileManager.default.enumerator(atPath: dataDir)?.allObjects as? [String] ?? []).sorted().joined(separator: "\n")
        return [links, addresses, routes, store].joined(separator: "\n--\n")
    }

    /// The store's owner records, one per attachment.
    func reservations(dataDir: String? = nil, network: String = "cbr0") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDir ?? self.dataDir)/\(network)/owners")) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    func links() throws -> [String] {
        try exec("ip", "-o", "link", "show").stdout.split(separator: "\n").compactMap { line in
            line.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces).components(separatedBy: "@")[0] }
        }
    }
}

func withNode(subnetEnv: String? = nil, _ body: (TestNode) throws -> Void) throws {
    let node = try subnetEnv.map { try TestNode(subnetEnv: $0) } ?? TestNode()
    defer { node.cleanup() }
    try body(node)
}

/// The pod address a result names (first entry of `ips`), without its prefix length.
func podAddress(_ result: [String: Any]) -> String? {
    ((result["ips"] as? [[String: Any]])?.first?["address"] as? String)?.components(separatedBy: "/").first
}
