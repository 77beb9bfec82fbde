import Foundation
import Testing
import WeftTestSupport

/// A node of a TestCluster running weftd, with pods attached by the `weft` plugin.
final class TestNodeAgent {
    let cluster: TestCluster
    let label: String
    let namespace: String
    let publicIP: String
    let directory: String
    private(set) var weftd: Daemon?
    private(set) var startedAt = Date()
    private var pods = 0

    var subnetFile: String { "\(directory)/subnet.env" }
    var stateFile: String { "\(directory)/agent.json" }

    /// The node's IPv6 underlay address, when the cluster is dual-stack.
    let publicIPv6: String?

    init(_ cluster: TestCluster, number: Int, ipv6: Bool = false) throws {
        self.cluster = cluster
        label = "n\(number)"
        publicIP = "10.77.0.\(10 + number)"
        publicIPv6 = ipv6 ? "fd77::\(10 + number)" : nil
        directory = "\(cluster.directory)/\(label)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        namespace = try cluster.attach(label, address: "\(publicIP)/24")
        if let publicIPv6 {
            // nodad: the address is usable at once, not "tentative" for a second.
            try ip("-n", namespace, "addr", "add", "\(publicIPv6)/64", "dev", "eth0", "nodad")
        }
    }

    /// Starts weftd in the node's namespace with a short TTL.
    /// `etcd` replaces the default etcd flags (plain HTTP to the cluster's etcd), `iface` the underlay
    /// flags; `extra` is appended; `environment` is added to weftd's.
    func start(
        ttl: String = "5s", etcd: [String]? = nil, iface: [String] = ["--iface", "eth0"], extra: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        startedAt = Date()
        let engine =
            cluster.engine == .etcd
            ? etcd ?? ["--etcd-endpoints", cluster.etcdEndpoint, "--etcd-allow-insecure"]
            : ["--backend", "kube", "--kubeconfig", cluster.kubeconfigFile, "--node-name", label, "--net-conf", cluster.netConfFile]
        let daemon = try Daemon(
            ["/usr/bin/nsenter", "--net=/var/run/netns/\(namespace)", binary("weftd"), "run"] + engine
                + iface + [
                    "--lease-ttl", ttl, "--subnet-file", subnetFile, "--state-file", stateFile,
                    "--metrics-address", "127.0.0.1:9410",
                ] + extra,
            logPath: "\(directory)/weftd.log", environment: environment)
        weftd = daemon
        cluster.track(daemon)
    }

    /// The FLANNEL_SUBNET weftd wrote, once it is there.
    func leasedSubnet(timeout: Double = 20) throws -> String {
        var subnet = ""
        let found = waitUntil(timeout: timeout) {
            let text = (try? String(contentsOfFile: subnetFile, encoding: .utf8)) ?? ""
            subnet = text.split(separator: "\n").first { $0.hasPrefix("FLANNEL_SUBNET=") }.map { String($0.dropFirst(15)) } ?? ""
            return !subnet.isEmpty
        }
        guard found != nil else { throw TestFailure("\(label): no subnet.env; weftd log:\n\(weftd?.log.suffix(3000) ?? "")") }
        return subnet
    }

    /// A pod namespace attached by the weft plugin; returns its namespace name and address.
    func addPod() throws -> (namespace: String, address: String) {
        let pod = try addDualStackPod()
        return (pod.namespace, pod.addresses[0])
    }

    /// A pod namespace attached by the weft plugin; returns its namespace name and every address (IPv4 first).
    func addDualStackPod() throws -> (namespace: String, addresses: [String]) {
        pods += 1
        let pod = "wt-\(cluster.id)-\(label)p\(pods)"
        try cluster.addNamespace(pod)
        let config =
            #"{"cniVersion":"1.0.0","name":"cbr0","type":"weft","subnetFile":"\#(subnetFile)","dataDir":"\#(directory)/ipam","delegate":{"isDefaultGateway":true}}"#
        let result = try run(
            ["/usr/bin/nsenter", "--net=/var/run/netns/\(namespace)", binary("weft")], input: config,
            environment: [
                "CNI_COMMAND": "ADD", "CNI_CONTAINERID": pod, "CNI_NETNS": "/var/run/netns/\(pod)", "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",
            ])
        guard result.status == 0,
            let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            let addresses = (json["ips"] as? [[String: Any]])?.compactMap({ ($0["address"] as? String)?.split(separator: "/").first.map(String.init) }),
            !addresses.isEmpty
        else { throw TestFailure("\(label): ADD failed (\(result.status)): \(result.stdout) \(result.stderr)") }
        return (pod, addresses)
    }

    /// The pid the agent wrote in its state file.
    func agentPID() -> Int32? {
        guard let data = FileManager.default.contents(atPath: stateFile),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return (json["pid"] as? NSNumber)?.int32Value
    }

    /// /healthz's body and status code, as "ok\n 200".
    func healthz() throws -> String {
        try exec("curl", "-s", "-m", "2", "-w", " %{http_code}", "http://127.0.0.1:9410/healthz").stdout
    }

    /// /healthz answers 200 "ok…" (the kube backend adds what the node's readiness did: "ok: conflist …").
    func healthy() -> Bool {
        guard let health = try? healthz() else { return false }
        return health.hasPrefix("ok") && health.hasSuffix(" 200")
    }

    /// A counter or gauge from /metrics (0 when absent).
    func metric(_ name: String) throws -> Double {
        let text = try exec("curl", "-s", "-m", "2", "http://127.0.0.1:9410/metrics").stdout
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// `weftd status` against the node's state file: its exit code (3 when unhealthy) and summary.
    func status() throws -> ProgramResult { try run([binary("weftd"), "status", "--state-file", stateFile]) }

    func exec(_ arguments: String...) throws -> ProgramResult {
        try run(["/usr/bin/nsenter", "--net=/var/run/netns/\(namespace)"] + arguments)
    }
}

/// Whether `address` answers a ping from `pod` within `timeout` seconds: a route another node's agent
/// installs arrives a watch event later, and one ping may be lost on a loaded machine.
func answersPing(from pod: String, to address: String, timeout: Double = 10) -> Bool {
    waitUntil(timeout: timeout) { (try? ping(from: pod, to: address)) == true } != nil
}

func ping(from pod: String, to address: String, wait: String = "1") throws -> Bool {
    try run(["/usr/sbin/ip", "netns", "exec", pod, "ping", "-c", "1", "-W", wait, address]).status == 0
}

/// Connects from `pod` to a one-shot server in `server` that answers with the address it saw.
func sourceSeen(from pod: String, by server: String, at address: String) throws -> String {
    let listener = try Daemon(
        [
            "/usr/sbin/ip", "netns", "exec", server, "python3", "-c",
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('0.0.0.0',7777))\ns.listen(1)\ns.settimeout(20)\nc,a=s.accept()\nc.sendall(a[0].encode())\nc.close()",
        ],
        logPath: "/dev/null")
    defer { listener.stop() }
    var seen = ""
    _ = try waitUntil(timeout: 10) {
        let answer = try run([
            "/usr/sbin/ip", "netns", "exec", pod, "python3", "-c",
            "import socket\ns=socket.create_connection(('\(address)',7777),timeout=2)\nprint(s.recv(64).decode())",
        ])
        seen = answer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return answer.status == 0
    }
    return seen
}
