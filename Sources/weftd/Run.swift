import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WeftAddress
import WeftAgent
import WeftCNI
import WeftEtcd
import WeftKube

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lease this node's subnet and connect the nodes (the default).")

    @Option(help: "The subnet engine: etcd, kube (the Node's spec.podCIDR, as flanneld --kube-subnet-mgr), or none (no subnet lease: --network-policy alone).")
    var backend = SubnetBackend.etcd
    @Flag(help: "Enforce Kubernetes NetworkPolicy for this node's pods (needs --kubeconfig or in-cluster credentials).") var networkPolicy = false
    @Option(help: "--network-policy: the Unix socket the plugin's ADD asks (root only).") var policySocket = "/run/weft/policy.sock"
    @Flag(
        help:
            "Serve Kubernetes Services on this node in place of kube-proxy (ClusterIP, NodePort, external and load-balancer addresses); refused while kube-proxy's rules are on the node. Needs the API server's real address: a kubeconfig, or --api-server with in-cluster credentials. Also on with $WEFT_SERVICES=true."
    )
    var services = false
    @Option(
        help:
            "The API server's real address (https://host:port), in place of the in-cluster KUBERNETES_SERVICE_HOST, which is the `kubernetes` Service's ClusterIP: with --services weftd cannot depend on the Service it serves (default: $WEFT_API_SERVER)."
    )
    var apiServer: String?
    @Option(
        help:
            "--services: the cluster's pod networks, comma-separated CIDRs (kube-proxy's --cluster-cidr); default: net-conf's Network and IPv6Network."
    )
    var clusterCIDR: String?
    @Option(help: "etcd endpoints, comma-separated URLs.") var etcdEndpoints = "http://127.0.0.1:2379"
    @Option(help: "flannel's etcd prefix: <prefix>/config and <prefix>/subnets/.") var etcdPrefix = "/coreos.com/network"
    @Option(name: .customLong("etcd-cafile"), help: "etcd: the CA that signed etcd's server certificate (PEM).") var etcdCAFile: String?
    @Option(name: .customLong("etcd-certfile"), help: "etcd: this node's client certificate (PEM), with --etcd-keyfile.") var etcdCertFile: String?
    @Option(name: .customLong("etcd-keyfile"), help: "etcd: the client certificate's private key (PEM).") var etcdKeyFile: String?
    @Option(help: "etcd: a user of etcd's auth, with --etcd-password.") var etcdUsername: String?
    @Option(help: "etcd: the user's password (prefer $ETCD_PASSWORD: arguments are visible in ps).") var etcdPassword: String?
    @Flag(help: "etcd: allow plain http:// to an endpoint off this machine (anyone on the way could read and forge leases).")
    var etcdAllowInsecure = false
    @Option(help: "kube: a kubeconfig file (default: the pod's service account).") var kubeconfig: String?
    @Option(help: "kube: this node's Node name (default: $NODE_NAME, else the host name).") var nodeName: String?
    @Option(help: "kube: flannel's net-conf.json.") var netConf = "/etc/kube-flannel/net-conf.json"
    @Option(help: "Lease TTL, a Go duration (10s, 24h).") var leaseTTL = "24h"
    // Tests shorten it; 60 s is the documented bound (AgentOptions.watchBrokenBound).
    @Option(help: .hidden) var leaseWatchBound = "60s"
    @Option(help: "The underlay link (default: $WEFT_IFACE, else the default route's).") var iface: String?
    @Option(
        name: .customLong("iface-regex"), parsing: .singleValue,
        help:
            "flanneld's --iface-regex, repeatable (default: $WEFT_IFACE_REGEX): the first link whose IPv4 address, else whose name, matches (unanchored); ignored with --iface."
    )
    var ifaceRegex: [String] = []
    @Option(
        help: "The address other nodes reach this one by (default: $WEFT_PUBLIC_IP, else the one --iface-regex matched, else the link's first IPv4 address).")
    var publicIP: String?
    @Option(
        name: .customLong("public-ipv6"), help: "Dual-stack: the IPv6 address other nodes reach this one by (default: --iface's first global IPv6 address).")
    var publicIPv6: String?
    @Option(
        name: .customLong("vxlan-tx-checksum-offload"),
        help:
            "vxlan: the devices' transmit checksum offload: auto (off on kernels before 5.7, where masquerading vxlan packets broke their checksums: flannel#1282), on or off."
    )
    var vxlanTxChecksumOffload = TxChecksumOffload.auto
    @Option(help: "The subnet.env to write.") var subnetFile = "/run/flannel/subnet.env"
    @Option(
        name: .customLong("cni-conf-source"),
        help:
            "A conflist to install once the node's network is ready (subnet.env, fabric, and with --network-policy the first policy sync), with --cni-conf-dest."
    )
    var cniConfSource: String?
    @Option(
        name: .customLong("cni-conf-dest"),
        help: "Where --cni-conf-source goes (e.g. /etc/cni/net.d/10-weft.conflist): its appearance makes the runtime report the network ready.")
    var cniConfDest: String?
    @Option(
        name: .customLong("cni-conf-volatile"),
        help:
            "Write the conflist here, on a tmpfs a reboot empties (e.g. /run/weft/10-weft.conflist), and make --cni-conf-dest a symlink to it: after a reboot the runtime reports the network not ready until weftd has the node's subnet again. An absolute path, mounted at the same path for weftd as on the host."
    )
    var cniConfVolatile: String?
    @Option(help: "The agent's state file, read by `weftd status`.") var stateFile = AgentStatus.defaultPath
    @Option(help: "host:port for /healthz and /metrics; \"off\" for none.") var metricsAddress = "127.0.0.1:9410"
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = makeLogger()
        do {
            try await runAgent(logger: logger)
        } catch let failure {
            guard let error = AgentError(failure) else { throw failure }
            logger.critical("\(error.message)", metadata: ["kind": "\(error.kind.rawValue)"])
            FileHandle.standardError.write(Data("weftd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func makeLogger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        return Logger(label: "weftd")
    }

    func options() throws -> AgentOptions {
        if backend == .none && !networkPolicy && !servesServices {
            throw AgentError(.invalidConfig, "--backend none leases nothing: it needs --network-policy or --services")
        }
        var options = AgentOptions(etcdEndpoints: etcdEndpoints.split(separator: ",").map { String($0) })
        options.etcdPrefix = etcdPrefix
        options.etcdSecurity = EtcdSecurity(
            caFile: etcdCAFile, certFile: etcdCertFile, keyFile: etcdKeyFile, username: etcdUsername,
            password: etcdPassword ?? (etcdUsername == nil ? nil : ProcessInfo.processInfo.environment["ETCD_PASSWORD"]),
            allowInsecure: etcdAllowInsecure)
        guard let ttl = GoDuration.seconds(leaseTTL), ttl >= 1 else {
            throw AgentError(.invalidConfig, "--lease-ttl \(leaseTTL) is not a duration of at least 1s (etcd counts whole seconds)")
        }
        options.leaseTTL = Int(ttl.rounded(.up))
        guard let bound = GoDuration.seconds(leaseWatchBound), bound > 0 else {
            throw AgentError(.invalidConfig, "--lease-watch-bound \(leaseWatchBound) is not a positive duration")
        }
        options.watchBrokenBound = bound
        // The DaemonSet passes the ConfigMap's iface, iface-regex and public-ip keys as these variables
        // (an empty value is no value): a ConfigMap key cannot add or leave out an argument.
        let environment = ProcessInfo.processInfo.environment
        func setting(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let iface = setting(self.iface, "WEFT_IFACE")
        let ifaceRegex = self.ifaceRegex.isEmpty ? setting(nil, "WEFT_IFACE_REGEX").map { [$0] } ?? [] : self.ifaceRegex
        let publicIP = setting(self.publicIP, "WEFT_PUBLIC_IP")
        options.interface = iface
        if iface == nil && !ifaceRegex.isEmpty {
            // Chosen once, at start, as flanneld does: a link renamed or readdressed later needs a restart.
            let choice = try InterfaceChoice.choose(patterns: ifaceRegex, candidates: try InterfaceChoice.candidates())
            options.interface = choice.name
            if publicIP == nil { options.publicIP = choice.address }
        }
        if let publicIP {
            guard let address = IPAddress(publicIP), address.isIPv4 else { throw AgentError(.invalidConfig, "--public-ip \(publicIP) is not an IPv4 address") }
            options.publicIP = address
        }
        if let publicIPv6 {
            guard let address = IPAddress(publicIPv6), !address.isIPv4 else {
                throw AgentError(.invalidConfig, "--public-ipv6 \(publicIPv6) is not an IPv6 address")
            }
            options.publicIPv6 = address
        }
        options.vxlanTxChecksumOffload = vxlanTxChecksumOffload
        options.subnetFile = subnetFile
        options.stateFile = stateFile
        let metrics = try AgentOptions.address(metricsAddress)
        options.metricsHost = metrics?.host
        options.metricsPort = metrics?.port ?? 0
        return options
    }

    func runAgent(logger: Logger) async throws {
        let options = try options()
        guard (cniConfSource == nil) == (cniConfDest == nil) else {
            throw AgentError(.invalidConfig, "--cni-conf-source and --cni-conf-dest go together")
        }
        if let volatile = cniConfVolatile {
            guard cniConfDest != nil, volatile.hasPrefix("/"), volatile != cniConfDest else {
                throw AgentError(.invalidConfig, "--cni-conf-volatile needs --cni-conf-dest and an absolute path other than it (the link's target)")
            }
        }
        let metrics = AgentMetrics()
        var agent: Agent?
        var shutdown: @Sendable () async -> Void = {}
        var kube: (client: KubeClient, node: String)?
        if backend != .none {
            let (engine, engineName, close, kubeNode) = try makeEngine(options)
            agent = try Agent(options: options, engine: engine, engineName: engineName, logger: logger, metrics: metrics)
            shutdown = close
            kube = kubeNode
        }
        let policy = networkPolicy ? try await startPolicy(logger: logger, metrics: metrics) : nil
        let serving = servesServices ? try await startServices(logger: logger, metrics: metrics) : nil
        let readiness = makeReadiness(agent: agent, policy: policy?.agent, services: serving?.agent.health, kube: kube, logger: logger)
        if let readiness {
            agent?.healthBox.onStore { readiness.changes.notify() }
            policy?.agent.health.onSyncChange { readiness.changes.notify() }
            serving?.agent.health.onSynced { readiness.changes.notify() }
        }
        var server: StatusServer?
        if let host = options.metricsHost {
            let box = agent?.healthBox
            let policyHealth = policy?.health
            let servicesHealth = serving?.agent.health
            server = try await StatusServer.start(host: host, port: options.metricsPort, metrics: metrics) {
                let lease: (healthy: Bool, reason: String) = box?.check() ?? (true, "ok")
                guard lease.healthy else { return lease }
                let enforcing = policyHealth?() ?? lease
                guard enforcing.healthy else { return enforcing }
                if let serving = servicesHealth?.current, !serving.healthy { return serving }
                return readiness?.health ?? enforcing
            }
            logger.info("serving /healthz and /metrics", metadata: ["address": "\(host):\(server?.port ?? options.metricsPort)"])
        }
        // WeftdParts.services gives the start order; a signal stops them in reverse.
        var parts = WeftdParts()
        let closeEngine = shutdown
        parts.connections = {
            await policy?.client.shutdown()
            await serving?.client.shutdown()
            await closeEngine()
        }
        if let server { parts.statusServer = { await server.close() } }
        if let agent {
            parts.lease = { try await agent.run() }
            parts.fabric = { try await agent.runFabric() }
        }
        if let serving { parts.serviceAgent = { await serving.agent.run() } }
        if let policy {
            parts.policyAgent = { await policy.agent.run() }
            parts.policySocket = { await policy.server.close() }
        }
        if let readiness { parts.readiness = { await readiness.run() } }
        parts.shutdownNotice = { logger.notice("stopping: routes, neighbours and the lease stay in place") }
        try await WeftdServiceGroup.make(parts.services, logger: logger).run()
    }
}

extension Run {
    /// The node's "network ready" switch (NodeReadiness): the conflist and, with the kube backend, the
    /// Node's NetworkUnavailable=False, once subnet.env, the fabric, the policy sync and the first Services
    /// table are in place. nil when weftd has neither to do (no --cni-conf-source, no kube backend).
    func makeReadiness(
        agent: Agent?, policy: PolicyAgent?, services: ServiceHealth?, kube: (client: KubeClient, node: String)?, logger: Logger
    ) -> NodeReadiness? {
        var installer: CNIConfInstaller?
        if let source = cniConfSource, let destination = cniConfDest {
            installer = CNIConfInstaller(source: source, destination: destination, volatile: cniConfVolatile)
        }
        guard installer != nil || kube != nil else { return nil }
        let fabric: NodeReadiness.Fabric
        if let agent {
            fabric = {
                guard let status = await agent.status() else { return .waiting("no subnet leased yet") }
                if let lost = status.leaseLost { return .lost(lost) }
                // lastReconcileAt is set by the first reconcile, which follows subnet.env and the vxlan device.
                return status.lastReconcileAt == nil ? .waiting("fabric not reconciled yet") : .ready
            }
        } else {
            // --backend none: the routes are the cloud's and subnet.env another agent's; nothing of weftd's to wait for.
            fabric = { .ready }
        }
        let synced: NodeReadiness.PolicySynced? = policy.map { policy in { @Sendable in await policy.isSynced } }
        let served: NodeReadiness.PolicySynced? = services.map { services in { @Sendable in services.isSynced } }
        return NodeReadiness(fabric: fabric, policySynced: synced, servicesSynced: served, installer: installer, condition: kube, logger: logger)
    }

    /// The NetworkPolicy agent, its socket, and its health (PolicyHealth): healthy once the first sync is in
    /// the kernel, while every object can be read, the table was written and no watch is broken too long.
    func startPolicy(logger: Logger, metrics: AgentMetrics) async throws
        -> (agent: PolicyAgent, server: PolicySocketServer, client: KubeClient, health: StatusServer.Health)
    {
        let credentials = try kubeCredentials()
        let name = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ProcessInfo.processInfo.hostName
        let client = try KubeClient(credentials: credentials)
        // A weftd whose --node-name (or NODE_NAME) names no Node would enforce nothing and say ok.
        guard Validation.isDNSSubdomain(name) else {
            await client.shutdown()
            throw AgentError(.invalidConfig, "node name \"\(Validation.printable(name))\" is not a Kubernetes node name")
        }
        guard try await client.object("/api/v1/nodes/\(name)") != nil else {
            await client.shutdown()
            throw AgentError(.invalidConfig, "node \(name) does not exist in the API (\(credentials.server)): check --node-name or NODE_NAME")
        }
        let announced = (policySocket as NSString).deletingLastPathComponent + "/announced.json"
        let agent = try PolicyAgent(client: client, node: name, logger: logger, metrics: metrics, announcedFile: announced)
        let server = try await PolicySocketServer.start(path: policySocket, agent: agent)
        logger.info("enforcing NetworkPolicy", metadata: ["node": "\(name)", "api": "\(credentials.server)", "socket": "\(policySocket)"])
        let health = agent.health
        return (agent, server, client, { health.current })
    }

    /// The engine, its name for logs and status, how to close its connections, and for the kube backend
    /// its client and Node (NodeReadiness sets the Node's NetworkUnavailable condition through them).
    func makeEngine(_ options: AgentOptions) throws
        -> (LeaseEngine, String, @Sendable () async -> Void, (client: KubeClient, node: String)?)
    {
        if backend == .kube {
            let credentials = try kubeCredentials()
            let name = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ProcessInfo.processInfo.hostName
            let client = try KubeClient(credentials: credentials)
            return (
                KubeLeaseEngine(client: client, nodeName: name, netConfPath: netConf), "kube \(credentials.server) node \(name)",
                { await client.shutdown() }, (client, name)
            )
        }
        let client = try EtcdClient(endpoints: options.etcdEndpoints, security: options.etcdSecurity)
        return (
            EtcdLeaseEngine(client: client, prefix: options.etcdPrefix), "etcd \(options.etcdEndpoints.joined(separator: ","))",
            { await client.shutdown() }, nil
        )
    }
}
