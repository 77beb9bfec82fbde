import ArgumentParser
import Dispatch
import Foundation
import Logging
import WeftAddress
import WeftAgent

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lease this node's subnet and connect the nodes (the default).")

    @Option(help: "The subnet engine: etcd, or kube (the Node's spec.podCIDR, as flanneld --kube-subnet-mgr).") var backend = "etcd"
    @Option(help: "etcd endpoints, comma-separated URLs.") var etcdEndpoints = "http://127.0.0.1:2379"
    @Option(help: "flannel's etcd prefix: <prefix>/config and <prefix>/subnets/.") var etcdPrefix = "/coreos.com/network"
    @Option(help: "kube: a kubeconfig file (default: the pod's service account).") var kubeconfig: String?
    @Option(help: "kube: this node's Node name (default: $NODE_NAME, else the host name).") var nodeName: String?
    @Option(help: "kube: flannel's net-conf.json.") var netConf = "/etc/kube-flannel/net-conf.json"
    @Option(help: "Lease TTL, a Go duration (10s, 24h).") var leaseTTL = "24h"
    @Option(help: "The underlay link (default: the default route's).") var iface: String?
    @Option(help: "The address other nodes reach this one by (default: --iface's first IPv4 address).") var publicIP: String?
    @Option(name: .customLong("public-ipv6"), help: "Dual-stack: the IPv6 address other nodes reach this one by (default: --iface's first global IPv6 address).")
    var publicIPv6: String?
    @Option(help: "The subnet.env to write.") var subnetFile = "/run/flannel/subnet.env"
    @Option(help: "The agent's state file, read by `weftd status`.") var stateFile = AgentStatus.defaultPath
    @Option(help: "host:port for /healthz and /metrics; \"off\" for none.") var metricsAddress = "127.0.0.1:9410"
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func run() async throws {
        let logger = makeLogger()
        do {
            try await runAgent(logger: logger)
        } catch let error as AgentError {
            logger.critical("\(error.message)", metadata: ["kind": "\(error.kind.rawValue)"])
            FileHandle.standardError.write(Data("weftd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func makeLogger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        return Logger(label: "weftd")
    }

    func options() throws -> AgentOptions {
        guard backend == "etcd" || backend == "kube" else {
            throw AgentError(.invalidConfig, "--backend \(backend): etcd or kube")
        }
        var options = AgentOptions(etcdEndpoints: etcdEndpoints.split(separator: ",").map { String($0) })
        options.etcdPrefix = etcdPrefix
        guard let ttl = GoDuration.seconds(leaseTTL), ttl >= 1 else {
            throw AgentError(.invalidConfig, "--lease-ttl \(leaseTTL) is not a duration of at least 1s (etcd counts whole seconds)")
        }
        options.leaseTTL = Int(ttl.rounded(.up))
        options.interface = iface
        if let publicIP {
            guard let address = IPAddress(publicIP), address.isIPv4 else { throw AgentError(.invalidConfig, "--public-ip \(publicIP) is not an IPv4 address") }
            options.publicIP = address
        }
        if let publicIPv6 {
            guard let address = IPAddress(publicIPv6), !address.isIPv4 else { throw AgentError(.invalidConfig, "--public-ipv6 \(publicIPv6) is not an IPv6 address") }
            options.publicIPv6 = address
        }
        options.subnetFile = subnetFile
        options.stateFile = stateFile
        let metrics = try AgentOptions.address(metricsAddress)
        options.metricsHost = metrics?.host
        options.metricsPort = metrics?.port ?? 0
        return options
    }

    func runAgent(logger: Logger) async throws {
        let options = try options()
        let (engine, engineName, shutdown) = try makeEngine(options)
        let agent = try Agent(options: options, engine: engine, engineName: engineName, logger: logger)
        var server: StatusServer?
        if let host = options.metricsHost {
            let box = agent.healthBox
            server = try await StatusServer.start(host: host, port: options.metricsPort, metrics: agent.metrics) { box.check() }
            logger.info("serving /healthz and /metrics", metadata: ["address": "\(host):\(server?.port ?? options.metricsPort)"])
        }
        let work = Task { try await agent.run() }
        let signals = SignalWatch { signal in
            logger.notice("stopping: routes, neighbours and the lease stay in place", metadata: ["signal": "\(signal)"])
            work.cancel()
        }
        defer { signals.stop() }
        let result = await work.result
        await server?.close()
        await shutdown()
        if case .failure(let error) = result, !work.isCancelled { throw error }
    }
}

extension Run {
    /// The engine, its name for logs and status, and how to close its connections.
    func makeEngine(_ options: AgentOptions) throws -> (LeaseEngine, String, @Sendable () async -> Void) {
        if backend == "kube" {
            let credentials = try kubeconfig.map { try KubeCredentials.kubeconfig(path: $0) } ?? KubeCredentials.inCluster()
            let name = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ProcessInfo.processInfo.hostName
            let client = try KubeClient(credentials: credentials)
            return (KubeLeaseEngine(client: client, nodeName: name, netConfPath: netConf), "kube \(credentials.server) node \(name)",
                    { await client.shutdown() })
        }
        let client = try EtcdClient(endpoints: options.etcdEndpoints)
        return (EtcdLeaseEngine(client: client, prefix: options.etcdPrefix), "etcd \(options.etcdEndpoints.joined(separator: ","))",
                { await client.shutdown() })
    }
}

/// SIGTERM and SIGINT, delivered through dispatch sources rather than signal handlers (which could
/// call nothing but async-signal-safe functions).
final class SignalWatch: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    func stop() { sources.forEach { $0.cancel() } }
}
