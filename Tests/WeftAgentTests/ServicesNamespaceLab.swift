import Foundation
import WeftTestSupport

/// weftd --services end to end in a throwaway network namespace (loopback up): the fake API server
/// (`FakeKubeAPI.services`) and weftd both in it. weftd starts as the Services bench starts it: a
/// kubeconfig, no --cluster-cidr and no net-conf (served without the pod networks, said in the log),
/// /healthz and /metrics on 127.0.0.1:9412 there. `cleanup()` (in a defer) stops both by PID and
/// deletes the namespace and the files.
final class ServicesNamespaceLab {
    let namespace: String
    let directory: String
    let api: FakeKubeAPI
    private(set) var weftd: Daemon?

    init(label: String, serving versions: String) throws {
        let id = TestNamespace.uniqueID()
        namespace = "wt-\(id)-\(label)"
        directory = "/tmp/weft-test-\(label)-\(id)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var started: FakeKubeAPI?
        do {
            try TestNamespace.add(namespace)
            let server = try FakeKubeAPI.services(serving: versions, namespace: namespace)
            started = server
            try FakeKubeAPI.kubeconfig(server: server.server).write(toFile: "\(directory)/kubeconfig", atomically: true, encoding: .utf8)
            api = server
        } catch {
            started?.cleanup()
            TestNamespace.delete(namespace)
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Starts weftd in the namespace.
    func startWeftd() throws -> Daemon {
        let started = try Daemon(
            api.inNamespace([
                binary("weftd"), "run", "--backend", "none", "--services", "--kubeconfig", "\(directory)/kubeconfig", "--node-name", "node-1",
                "--net-conf", "\(directory)/absent-net-conf.json", "--metrics-address", "127.0.0.1:9412", "--state-file", "\(directory)/agent.json",
            ]), logPath: "\(directory)/weftd.log")
        weftd = started
        return started
    }

    /// Stops weftd with `signal`: its exit code.
    func stopWeftd(_ signal: Int32) -> Int32? {
        defer { weftd = nil }
        return weftd?.stop(signal)
    }

    /// `arguments` run in the namespace.
    func run(_ arguments: [String]) throws -> ProgramResult { try WeftAgentTests.run(api.inNamespace(arguments)) }

    func cleanup() {
        weftd?.stop(SIGKILL)
        api.cleanup()
        TestNamespace.delete(namespace)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
