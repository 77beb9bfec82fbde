import Foundation
import WeftTestSupport

/// One node for NetworkPolicy: a namespace running etcd, a real kube-apiserver (Kubernetes' own, from
/// the e2e cache: `make k8s-build`), weftd --network-policy, and pods wired by the `weft` plugin on a
/// bridge. Names are `wt-<8 hex>-…`; `cleanup()` stops every daemon by PID and deletes everything.
final class PolicyLab {
    let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
    let directory: String
    let kubeBin: String
    var node: String { "wt-\(id)-pnode" }
    var socket: String { "\(directory)/run/policy.sock" }
    private(set) var pods: [String] = []
    private var daemons: [String: Daemon] = [:]

    /// Where `make k8s-build` put kube-apiserver and kubectl: KUBE_BIN, else the newest complete cache.
    static func kubeBin() -> String? {
        if let bin = ProcessInfo.processInfo.environment["KUBE_BIN"] { return bin }
        let cache = "/var/cache/weft-e2e"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).sorted().reversed()
        return versions.map { "\(cache)/\($0)/bin" }.first { FileManager.default.fileExists(atPath: "\($0)/.complete") }
    }

    /// RBAC on: the API server authorizes by RBAC instead of allowing everything; the admin token stays
    /// in system:masters, `weftd-token` is the weft ServiceAccount of deploy/weft.yaml and `nobody-token`
    /// a user nothing is granted to.
    let rbac: Bool
    /// kube-apiserver's command line, kept to start it again (a test restarts it).
    private var apiserverCommand: [String] = []

    init(rbac: Bool = false) throws {
        self.rbac = rbac
        guard let kubeBin = Self.kubeBin() else { throw TestFailure("no kube-apiserver: run `make k8s-build` (or set KUBE_BIN)") }
        self.kubeBin = kubeBin
        directory = "/tmp/weft-test-\(id)"
        try FileManager.default.createDirectory(atPath: "\(directory)/run", withIntermediateDirectories: true)
        do {
            try addNamespace(node)
            try startControlPlane()
        } catch {
            cleanup()
            throw error
        }
    }

    func addNamespace(_ name: String) throws {
        try TestNamespace.add(name)
    }

    func inNode(_ arguments: [String], input: String = "") throws -> ProgramResult {
        try run(["/usr/bin/nsenter", "--net=/var/run/netns/\(node)"] + arguments, input: input)
    }

    func start(_ name: String, _ arguments: [String]) throws {
        daemons[name] = try Daemon(["/usr/bin/nsenter", "--net=/var/run/netns/\(node)"] + arguments, logPath: "\(directory)/\(name).log")
    }

    /// A daemon's PID (nsenter execs the program, so it is the program's).
    func pid(_ name: String) -> pid_t? { daemons[name]?.pid }

    /// The lab's API server reached from the test process (outside the node's namespace): a socat
    /// on 127.0.0.1 at a free port, one nsenter'd socat per connection. Its https URL.
    func forwardAPIServer() throws -> String {
        // 26,000 to 32,000: below the kernel's ephemeral range (a client socket is never given it) and apart
        // from ServiceHealthCheckTests' ports (20,000 to 26,000), which must be refused once closed.
        let port = Int.random(in: 26_000..<32_000)
        daemons["forward"] = try Daemon(
            [
                "/usr/bin/socat", "TCP4-LISTEN:\(port),bind=127.0.0.1,fork,reuseaddr",
                "EXEC:/usr/bin/nsenter --net=/var/run/netns/\(node) /usr/bin/socat STDIO TCP4\\:127.0.0.1\\:6443",
            ],
            logPath: "\(directory)/forward.log")
        guard
            waitUntil(
                timeout: 10,
                {
                    (try? run([
                        "/usr/bin/curl", "-sk", "-H", "Authorization: Bearer weft-test-token",
                        "https://127.0.0.1:\(port)/readyz",
                    ]).stdout) == "ok"
                }) != nil
        else {
            throw TestFailure("no forward to the API server: \(log("forward"))")
        }
        return "https://127.0.0.1:\(port)"
    }

    func stop(_ name: String, _ signal: Int32 = SIGTERM) { daemons.removeValue(forKey: name)?.stop(signal) }

    func log(_ name: String) -> String { (try? String(contentsOfFile: "\(directory)/\(name).log", encoding: .utf8)) ?? "" }

    private func startControlPlane() throws {
        let pki = directory
        try """
        weft-test-token,weft,weft,system:masters
        weftd-token,system:serviceaccount:kube-system:weft,weft-sa,"system:serviceaccounts,system:serviceaccounts:kube-system"
        nobody-token,nobody,nobody

        """.write(toFile: "\(pki)/tokens.csv", atomically: true, encoding: .utf8)
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
        users: [{name: u, user: {token: weft-test-token}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
        """.write(toFile: "\(directory)/kubeconfig", atomically: true, encoding: .utf8)
        // etcd's and kube-apiserver's command lines come from the one bring-up the Python tools share
        // (scripts/lib/apiserver.py); the lab starts them in its node and stops them by PID.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let printed = try run(
            [
                "/usr/bin/python3", "-m", "lib.apiserver", "commands", "--kube-bin", kubeBin, "--dir", directory,
                "--tokens", "\(pki)/tokens.csv", "--authorization", rbac ? "RBAC" : "AlwaysAllow",
            ],
            environment: ["PYTHONPATH": "\(repository)/scripts"])
        guard printed.status == 0,
            let commands = try JSONSerialization.jsonObject(with: Data(printed.stdout.utf8)) as? [String: [String]],
            let etcd = commands["etcd"], let apiserver = commands["apiserver"]
        else { throw TestFailure("scripts/lib/apiserver.py commands: \(printed.stderr)") }
        apiserverCommand = apiserver
        try start("etcd", etcd)
        try startAPIServer()
    }

    func startAPIServer() throws {
        try start("kube-apiserver", apiserverCommand)
        guard waitUntil(timeout: 90, { (try? kubectl("get", "--raw", "/readyz").stdout) == "ok" }) != nil else {
            throw TestFailure("kube-apiserver not ready: \(log("kube-apiserver").suffix(2000))")
        }
    }

    @discardableResult
    func kubectl(_ arguments: String..., input: String = "") throws -> ProgramResult {
        try inNode(["\(kubeBin)/kubectl", "--kubeconfig", "\(directory)/kubeconfig", "--cache-dir", "\(directory)/kube-cache"] + arguments, input: input)
    }

    func apply(_ yaml: String) throws {
        let applied = try kubectl("apply", "-f", "-", input: yaml)
        guard applied.status == 0 else { throw TestFailure("kubectl apply: \(applied.stderr)") }
    }

    /// weftd --network-policy for node n1, its socket and state in the lab's directory.
    func startWeftd(timeout: Double = 30) throws {
        // weftd refuses to start for a node the API does not have: the lab's node exists.
        try apply("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")
        try start(
            "weftd",
            [
                binary("weftd"), "run", "--backend", "none", "--network-policy", "--kubeconfig", "\(directory)/kubeconfig",
                "--node-name", "n1", "--policy-socket", socket, "--metrics-address", "127.0.0.1:9411",
                "--state-file", "\(directory)/state.json",
            ])
        guard waitUntil(timeout: timeout, { (try? inNode(["/usr/bin/curl", "-sf", "http://127.0.0.1:9411/healthz"]).status) == 0 }) != nil else {
            throw TestFailure("weftd not healthy: \(log("weftd").suffix(2000))")
        }
    }

    func metrics() throws -> String { try inNode(["/usr/bin/curl", "-sf", "http://127.0.0.1:9411/metrics"]).stdout }

    /// One sample's value (-1 when absent).
    func metric(_ name: String) throws -> Double {
        let line = try metrics().split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
    }

    func config(failClosed: Bool = false) -> String {
        #"{"cniVersion":"1.0.0","name":"pol","type":"weft","subnet":"10.62.0.0/24","dataDir":"\#(directory)/ipam","#
            + #""networkPolicy":{"failClosed":\#(failClosed),"socket":"\#(socket)"}}"#
    }

    /// The plugin's ADD (or DEL) for pod `name` of namespace prod, in its own netns; the exit status and output.
    func cni(_ command: String, _ name: String, failClosed: Bool = false, config: String? = nil) throws -> ProgramResult {
        let netns = "wt-\(id)-p\(name)"
        if !pods.contains(netns) {
            try addNamespace(netns)
            pods.append(netns)
        }
        return try inNode(
            [
                "/usr/bin/env", "CNI_COMMAND=\(command)", "CNI_CONTAINERID=c-\(name)", "CNI_NETNS=/var/run/netns/\(netns)",
                "CNI_IFNAME=eth0", "CNI_PATH=/nonexistent", "CNI_ARGS=K8S_POD_NAMESPACE=prod;K8S_POD_NAME=\(name)",
                binary("weft"),
            ], input: config ?? self.config(failClosed: failClosed))
    }

    /// ADD for pod `name` (with `config`, else the lab's); its address.
    func add(_ name: String, config: String? = nil) throws -> String {
        let added = try cni("ADD", name, config: config)
        guard added.status == 0, let range = added.stdout.range(of: #"10\.62\.0\.[0-9]+"#, options: .regularExpression) else {
            throw TestFailure("ADD \(name): \(added.stdout) \(added.stderr)")
        }
        return String(added.stdout[range])
    }

    /// Serves `name` on TCP `port` (answering its name) until cleanup.
    func serve(_ name: String, port: Int) throws {
        daemons["socat-\(name)-\(port)"] = try Daemon(
            [
                "/usr/bin/nsenter", "--net=/var/run/netns/wt-\(id)-p\(name)", "/usr/bin/socat",
                "TCP4-LISTEN:\(port),fork,reuseaddr", "SYSTEM:echo \(name)",
            ],
            logPath: "\(directory)/socat-\(name)-\(port).log")
        guard
            waitUntil(
                timeout: 10,
                { (try? run(["/usr/bin/nsenter", "--net=/var/run/netns/wt-\(id)-p\(name)", "/usr/bin/ss", "-ltn"]).stdout.contains(":\(port)")) == true })
                != nil
        else {
            throw TestFailure("\(name)'s server on TCP port \(port) never listened")
        }
    }

    /// What `from` gets from `address:port`: the server's name, or "" when dropped (1 s).
    func connect(from: String, to address: String, port: Int) throws -> String {
        try run([
            "/usr/bin/nsenter", "--net=/var/run/netns/wt-\(id)-p\(from)", "/usr/bin/timeout", "-s", "KILL", "4",
            "/usr/bin/socat", "-T1", "-", "TCP:\(address):\(port),connect-timeout=1",
        ]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `connect` where an answer is expected: tried up to three times (a loaded machine may lose the
    /// first ARP request past the one-second connect timeout).
    func answer(from: String, to address: String, port: Int) throws -> String {
        for _ in 1..<3 {
            let reply = try connect(from: from, to: address, port: port)
            if !reply.isEmpty { return reply }
        }
        return try connect(from: from, to: address, port: port)
    }

    func cleanup() {
        for (_, daemon) in daemons { daemon.stop(SIGKILL) }
        daemons = [:]
        for namespace in pods + [node] { TestNamespace.delete(namespace) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
