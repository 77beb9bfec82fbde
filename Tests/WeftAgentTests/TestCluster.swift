import Foundation
import Testing
import WeftTestSupport

/// Throwaway machines for weftd: an underlay namespace with a bridge, etcd in its own namespace on
/// it, and node namespaces (each with an `eth0` on the underlay). Names are `wt-<8 hex>-…` so the
/// Makefile's sweep removes leftovers; `cleanup()` stops every daemon by PID and deletes them all.
final class TestCluster {
    static let etcdAddress = "10.77.0.2"
    static let apiAddress = "10.77.0.3"

    /// Where the nodes' subnets come from: etcd, or a fake Kubernetes API (the kube backend).
    enum Engine { case etcd, fakeKube }
    static let prefix = "/coreos.com/network"

    let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
    let directory: String
    private(set) var namespaces: [String] = []
    private(set) var daemons: [Daemon] = []
    /// The kube backend's API server (engine .fakeKube).
    private(set) var fakeAPI: FakeKubeAPI?
    let engine: Engine
    /// etcd over TLS with client-certificate auth (EtcdTLS): certificates in the cluster's directory.
    let tls: Bool
    var etcdEndpoint: String { "\(tls ? "https" : "http")://\(Self.etcdAddress):2379" }
    var apiServer: String { "http://\(Self.apiAddress):6443" }
    var netConfFile: String { "\(directory)/net-conf.json" }
    var kubeconfigFile: String { "\(directory)/kubeconfig" }
    var underlay: String { "wt-\(id)-ul" }

    /// More etcd flags (as `--auth-token-ttl 1`).
    let etcdFlags: [String]
    /// etcdctl's `--user name:password` once etcd's auth is on (enableAuth).
    private(set) var etcdUser: String?

    init(netConf: String, engine: Engine = .etcd, tls: Bool = false, etcdFlags: [String] = []) throws {
        self.engine = engine
        self.tls = tls
        self.etcdFlags = etcdFlags
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-test-\(id)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try addNamespace(underlay)
            try ip("-n", underlay, "link", "add", "br0", "type", "bridge")
            try ip("-n", underlay, "link", "set", "br0", "up")
            if engine == .fakeKube {
                try startFakeAPI(netConf: netConf)
                return
            }
            try attach("etcd", address: "\(Self.etcdAddress)/24")
            if tls { try EtcdTLS.makeCertificates(in: directory, serverIP: Self.etcdAddress) }
            try startEtcd()
            let put = try etcdctl("put", "\(Self.prefix)/config", netConf)
            guard put.status == 0 else { throw TestFailure("etcdctl put config: \(put.stderr)") }
        } catch {
            cleanup()
            throw error
        }
    }

    private var etcd: Daemon?

    /// etcd in its namespace, its data in the cluster's directory (kept across a restart).
    func startEtcd() throws {
        let daemon = try Daemon(
            [
                "/usr/bin/nsenter", "--net=/var/run/netns/wt-\(id)-etcd", "/usr/bin/etcd", "--name", "wt",
                "--data-dir", "\(directory)/etcd", "--listen-client-urls", etcdEndpoint, "--advertise-client-urls", etcdEndpoint,
                "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                "--initial-cluster", "wt=http://127.0.0.1:2380",
            ] + (tls ? EtcdTLS.serverFlags(directory) : []) + etcdFlags,
            logPath: "\(directory)/etcd.log")
        daemons.append(daemon)
        etcd = daemon
        guard waitUntil(timeout: 30, { (try? etcdctl("endpoint", "health").status) == 0 }) != nil else {
            throw TestFailure("etcd did not become healthy: \(daemon.log.suffix(2000))")
        }
    }

    func killEtcd() { etcd?.stop(SIGKILL) }

    /// etcd's auth on: `root` (auth needs it), and `user` whose role may read and write only flannel's
    /// prefix. etcdctl goes on as root.
    func enableAuth(rootPassword: String, user: String, password: String) throws {
        let steps: [[String]] = [
            ["user", "add", "root:\(rootPassword)"],
            ["role", "add", "weft"],
            ["role", "grant-permission", "weft", "--prefix=true", "readwrite", "\(Self.prefix)/"],
            ["user", "add", "\(user):\(password)"],
            ["user", "grant-role", user, "weft"],
            ["auth", "enable"],
        ]
        for step in steps {
            // `user add name:password` asks for nothing with --interactive=false (a flag of user add only).
            let result = try run(
                etcdctlCommand + step + (step[0] == "user" && step[1] == "add" ? ["--interactive=false"] : []),
                environment: ["ETCDCTL_API": "3"])
            guard result.status == 0 else { throw TestFailure("etcdctl \(step.joined(separator: " ")): \(result.stderr)") }
        }
        etcdUser = "root:\(rootPassword)"
    }

    private func startFakeAPI(netConf: String) throws {
        let namespace = try attach("api", address: "\(Self.apiAddress)/24")
        try netConf.write(toFile: netConfFile, atomically: true, encoding: .utf8)
        try FakeKubeAPI.kubeconfig(server: apiServer).write(toFile: kubeconfigFile, atomically: true, encoding: .utf8)
        fakeAPI = try FakeKubeAPI(collections: ["/api/v1/nodes"], namespace: namespace, address: Self.apiAddress, port: 6443)
    }

    /// A request to the fake API server from its own namespace.
    @discardableResult
    func kube(_ method: String, _ path: String, body: String? = nil) throws -> ProgramResult {
        guard let fakeAPI else { throw TestFailure("no fake API server in this cluster (engine \(engine))") }
        return try fakeAPI.request(method, path, body: body)
    }

    func cleanup() {
        for daemon in daemons { daemon.stop(SIGKILL) }
        fakeAPI?.cleanup()
        for namespace in namespaces.reversed() { TestNamespace.delete(namespace) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func addNamespace(_ name: String) throws {
        try TestNamespace.add(name)
        namespaces.append(name)
    }

    /// A namespace `wt-<id>-<label>` whose `eth0` is plugged into the underlay bridge with `address`.
    @discardableResult
    func attach(_ label: String, address: String) throws -> String {
        let name = "wt-\(id)-\(label)"
        try addNamespace(name)
        let created = try ip("-n", underlay, "link", "add", label, "type", "veth", "peer", "name", "eth0", "netns", name)
        guard created.status == 0 else { throw TestFailure("veth for \(name): \(created.stderr)") }
        try ip("-n", underlay, "link", "set", label, "master", "br0", "up")
        try ip("-n", name, "addr", "add", address, "dev", "eth0")
        try ip("-n", name, "link", "set", "eth0", "up")
        return name
    }

    func track(_ daemon: Daemon) { daemons.append(daemon) }

    private var etcdctlCommand: [String] {
        [
            "/usr/bin/nsenter", "--net=/var/run/netns/wt-\(id)-etcd", "/usr/bin/etcdctl", "--endpoints", etcdEndpoint,
            "--dial-timeout", "2s",
        ] + (tls ? EtcdTLS.clientFlags(directory) : []) + (etcdUser.map { ["--user", $0] } ?? [])
    }

    @discardableResult
    func etcdctl(_ arguments: String...) throws -> ProgramResult {
        try run(etcdctlCommand + arguments, environment: ["ETCDCTL_API": "3"])
    }

    /// Every lease record: key → value, as etcd holds them.
    func leaseRecords() throws -> [String: String] {
        let lines = try etcdctl("get", "--prefix", "\(Self.prefix)/subnets/").stdout.split(separator: "\n").map(String.init)
        var records: [String: String] = [:]
        for index in stride(from: 0, to: lines.count - 1, by: 2) { records[lines[index]] = lines[index + 1] }
        return records
    }
}
