import Foundation
import Logging
import SystemPackage
import WeftAddress
import WeftCNI
import WeftNetlink
import WeftSystem

/// One node's agent, two services of weftd's group: the lease (`run`: leases the subnet, writes
/// subnet.env, sets up the fabric device, then keeps the lease alive) and the fabric (`runFabric`:
/// once the node is prepared, follows the engine's leases and keeps the kernel matching them). On
/// cancellation (SIGTERM) both stop without touching the kernel: routes stay, so pods keep working
/// while the agent restarts.
public actor Agent {
    let options: AgentOptions
    let engine: LeaseEngine
    let engineName: String
    let logger: Logger
    public let metrics: AgentMetrics
    public nonisolated let healthBox = HealthBox()
    let kernel: KernelQueue
    let fabric: NodeFabric
    let started = Date()

    var config: NetConf?
    var underlay: Underlay?
    var acquired: SubnetLeaser.Acquired?
    var links: FabricLinks?
    var mtu = 0
    var peers: [IPNetwork: SubnetLease] = [:]
    var unreachable: Set<IPNetwork> = []
    /// Leases PeerTrust refused, and lease destinations held by routes weftd did not make (each logged once).
    var refused: Set<IPNetwork> = []
    var foreignKept: Set<IPNetwork> = []
    var watching = false
    /// The last keep-alive's failure, nil once one succeeds again: a watch can hang on a half-dead
    /// connection without an error, the keep-alive cannot.
    var renewalFailure: String?
    var leaseExpiresAt: Date?
    var lastReconcileAt: Date?
    var reconcileErrors = 0
    /// The last reconcile's kernel changes were not all made: the retry timer runs it again.
    var reconcileFailing = false
    let reconcileRetry = RetryTimer()
    /// The lease is held, the device set up and subnet.env written: the fabric may start.
    var nodePrepared = false
    let prepared = ChangeSignal()
    var lastError: String?
    var announcedReady = false
    /// Why this node's subnet is no longer its own (loseLease); nil while it holds it.
    var leaseLost: String?
    /// Since when the lease watch has been broken (failed, not yet listed or resumed again), and why.
    var watchBrokenSince: Date?
    var watchBrokenBy: String?
    /// The subnet lost before this start (standDown), shown in the status instead of a lease.
    var lostSubnet: IPNetwork?

    public init(
        options: AgentOptions, engine: LeaseEngine, engineName: String, logger: Logger, metrics: AgentMetrics = AgentMetrics(),
        kernel: KernelQueue = .shared
    ) throws {
        self.options = options
        self.kernel = kernel
        self.engine = engine
        self.engineName = engineName
        self.logger = logger
        self.metrics = metrics
        // The socket is opened here, in the namespace weftd runs in, and used from the kernel queue.
        fabric = try NodeFabric()
    }

    /// The lease service: runs until cancelled; throws when the node cannot get or keep a lease.
    public func run() async throws {
        let config = try NetConf.parse(try await untilReachable("read the network config") { try await self.engine.networkConfig() })
        self.config = config
        let fabric = self.fabric, options = self.options
        let underlay = try await kernel.run {
            try fabric.underlay(name: options.interface, publicIP: options.publicIP, publicIPv6: options.publicIPv6, ipv6: config.ipv6 != nil)
        }
        self.underlay = underlay
        var attributes = LeaseAttributes(publicIP: underlay.publicIP, backendType: config.backend.typeName, publicIPv6: underlay.publicIPv6)
        if case .vxlan(let vni, _) = config.backend {
            attributes.vni = vni
            attributes.vtepMAC = NodeFabric.vtepMAC(publicIP: underlay.publicIP)
            attributes.ipv6VtepMAC = underlay.publicIPv6.map { NodeFabric.ipv6VtepMAC(publicIPv6: $0) }
        }
        if FileManager.default.fileExists(atPath: options.lostSubnetFile) {
            let lost = (try? SubnetEnv.load(path: options.lostSubnetFile))?.subnets.first { $0.family == .v4 }?.canonical
            try await standDown(lost: lost, "this node's subnet went to another node before this start (\(options.lostSubnetFile) exists)")
            return
        }
        let written = (try? SubnetEnv.load(path: options.subnetFile))?.subnets
        let previous = written?.first { $0.family == .v4 }?.canonical
        let previousIPv6 = written?.first { $0.family == .v6 }?.canonical
        let acquired: SubnetLeaser.Acquired
        do {
            acquired = try await untilReachable("lease a subnet") {
                try await self.engine.acquire(
                    config: config, ttl: self.options.leaseTTL, attributes: attributes, previous: previous,
                    previousIPv6: previousIPv6)
            }
        } catch let error as AgentError where error.kind == .leaseLost {
            // weftd was down past its lease's TTL and another node took the subnet meanwhile: the
            // same answer as when that happens while it runs (loseLease), never a new subnet.
            try await standDown(lost: previous, error.message)
            return
        }
        self.acquired = acquired
        leaseExpiresAt = Date().addingTimeInterval(TimeInterval(options.leaseTTL))
        metrics.leaseHeld.set(Int64(1))
        logger.info(
            "leased subnet",
            metadata: [
                "subnet": "\(acquired.lease.subnet)", "publicIP": "\(underlay.publicIP)",
                "ipv6Subnet": "\(acquired.lease.ipv6Subnet.map { "\($0)" } ?? "-")",
                "renewed": "\(acquired.renewed)", "lease": "\(acquired.grant)", "engine": "\(engineName)",
            ])
        try await prepareNode(lease: acquired.lease)
        nodePrepared = true
        prepared.notify()
        try await keepAliveLoop()
    }

    /// The fabric service: waits until `run` has prepared the node (never, when it stood down), then
    /// follows the leases and reconciles, retrying what the kernel refused, until cancelled.
    public func runFabric() async throws {
        while !nodePrepared {
            if Task.isCancelled { return }
            await prepared.wait(atMost: .seconds(60))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watchLoop() }
            group.addTask { await self.reconcileRetry.run(failing: { await self.reconcileFailing }, retry: { await self.retryReconcile() }) }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` again while the engine cannot be reached (a node often boots before etcd or the API
    /// server answers), every 1 s growing to 10 s; any other error ends the attempts.
    func untilReachable<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var delay = 1.0
        while true {
            do {
                return try await body()
            } catch let failure {
                guard let error = AgentError(failure), error.kind == .engine || error.kind == .kubeAPI else { throw failure }
                lastError = "\(error)"
                logger.warning("cannot \(what) yet: retrying", metadata: ["error": "\(error.message)", "retryIn": "\(delay)s"])
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                delay = min(delay * 2, 10)
            }
        }
    }

    /// The vxlan device's name: `weft.<VNI>` (flanneld's is `flannel.<VNI>`); nil for host-gw.
    var vxlanName: String? {
        guard case .vxlan(let vni, _)? = config?.backend else { return nil }
        return "weft.\(vni)"
    }

    /// The fabric device (vxlan) with this node's VTEP address, then subnet.env: the plugin can give
    /// pods addresses as soon as the file exists.
    func prepareNode(lease: SubnetLease) async throws {
        guard let config, let underlay else { return }
        let fabric = self.fabric
        switch config.backend {
        case .vxlan(let vni, let port):
            let overhead = lease.ipv6Subnet == nil ? NodeFabric.vxlanOverhead : NodeFabric.ipv6VxlanOverhead
            mtu = Int(underlay.mtu) - Int(overhead)
            let spec = VxlanSpec(
                name: vxlanName ?? "weft.\(vni)", vni: vni, port: port, local: underlay.publicIP, underlayIndex: underlay.index,
                mac: NodeFabric.vtepMAC(publicIP: underlay.publicIP), mtu: UInt32(mtu))
            let release = KernelVersion.runningRelease()
            let offload = options.vxlanTxChecksumOffload.decide(kernelRelease: release)
            let index = try await kernel.run { try fabric.ensureVxlan(spec, vtep: lease.vtepAddress, txChecksumOffload: offload.enabled) }
            var ipv6Index: Int32?
            if let publicIPv6 = underlay.publicIPv6, let vtep = lease.ipv6VtepAddress {
                // flannel's second device for IPv6 (flannel-v6.N), the same VNI and port over the IPv6 underlay.
                let spec6 = VxlanSpec(
                    name: "weft-v6.\(vni)", vni: vni, port: port, local: publicIPv6, underlayIndex: underlay.index,
                    mac: NodeFabric.ipv6VtepMAC(publicIPv6: publicIPv6), mtu: UInt32(mtu))
                ipv6Index = try await kernel.run { try fabric.ensureVxlan(spec6, vtep: vtep, txChecksumOffload: offload.enabled) }
                logger.info("vxlan device ready", metadata: ["device": "\(spec6.name)", "vtep": "\(vtep)/128", "mtu": "\(mtu)"])
            }
            links = FabricLinks(vxlanIndex: index, underlayIndex: underlay.index, ipv6VxlanIndex: ipv6Index)
            let devices = [spec.name] + (ipv6Index == nil ? [] : ["weft-v6.\(vni)"])
            logger.log(
                level: offload.releaseUnreadable ? .warning : .info, "vxlan tx checksum offload \(offload.enabled ? "on" : "off")",
                metadata: [
                    "devices": "\(devices.joined(separator: ","))", "mode": "\(options.vxlanTxChecksumOffload.rawValue)",
                    "kernel": "\(release)", "reason": "\(offload.reason)",
                ])
            logger.info(
                "vxlan device ready",
                metadata: [
                    "device": "\(spec.name)", "vni": "\(vni)", "port": "\(port)",
                    "vtep": "\(lease.vtepAddress)/32", "mtu": "\(mtu)",
                ])
        case .hostGateway:
            mtu = Int(underlay.mtu)
            links = FabricLinks(vxlanIndex: nil, underlayIndex: underlay.index)
        }
        let ipv6 = config.ipv6.flatMap { settings in lease.ipv6Subnet.map { (settings.network, $0) } }
        // 0644, as flanneld writes it: the plugin reads it as whatever user the runtime runs it.
        let subnetEnv = SubnetEnv(network: config.network, subnet: lease.subnet, mtu: mtu, ipv6: ipv6).text
        try AgentError.writingFile { try DurableFile.replace(options.subnetFile, with: subnetEnv, mode: 0o644, directoryMode: 0o755) }
        logger.info("wrote subnet file", metadata: ["path": "\(options.subnetFile)"])
        writeStatus()
    }

    /// Renews the lease every third of its TTL (AgentOptions.keepAliveSeconds), each attempt bounded
    /// by renewalTimeoutSeconds and a failed one retried every renewalRetrySeconds, so a short TTL
    /// survives a slow or briefly unreachable etcd. A lease etcd no longer knows (it expired while etcd
    /// was out of reach) is taken back, the same subnet only: if another node holds it now, weftd gives
    /// it up (loseLease) rather than move the node to another subnet under its running pods.
    func keepAliveLoop() async throws {
        var wait = options.keepAliveSeconds
        while !Task.isCancelled {
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            guard let acquired, let config, leaseLost == nil else { continue }
            do {
                let engine = self.engine
                if try await Self.within(options.renewalTimeoutSeconds, { try await engine.keepAlive(acquired.grant) }) {
                    metrics.leaseRenewals.increment()
                    renewalFailure = nil
                    leaseExpiresAt = Date().addingTimeInterval(TimeInterval(options.leaseTTL))
                    // Every renewal is written: /healthz judges the expiry it last read, and a quiet
                    // cluster writes nothing else, so it would call a renewed lease expired after one TTL.
                    writeStatus()
                    wait = options.keepAliveSeconds
                    continue
                }
                logger.error("lease expired: taking the subnet back", metadata: ["subnet": "\(acquired.lease.subnet)"])
                metrics.leaseHeld.set(Int64(0))
                guard let again = try await engine.reclaim(acquired.lease, config: config, ttl: options.leaseTTL) else {
                    loseLease("subnet \(acquired.lease.subnet) was leased by another node while this one could not renew")
                    continue
                }
                self.acquired = again
                leaseExpiresAt = Date().addingTimeInterval(TimeInterval(options.leaseTTL))
                metrics.leaseHeld.set(Int64(1))
                renewalFailure = nil
                wait = options.keepAliveSeconds
                writeStatus()
            } catch {
                if Task.isCancelled { return }
                metrics.leaseRenewalErrors.increment()
                renewalFailure = "\(error)"
                writeStatus()
                lastError = "\(error)"
                wait = options.renewalRetrySeconds
                logger.warning("lease renewal failed", metadata: ["error": "\(error)", "retryIn": "\(wait)s"])
            }
        }
    }

    /// Another node holds this node's subnet. Serving it on would give pods addresses another node
    /// routes, and leasing another would move the node under its pods, so weftd stops both: subnet.env
    /// is moved to `<file>.lost` (the plugin's ADD and STATUS then refuse), /healthz fails, and a
    /// restarted weftd refuses to start while the .lost file is there (an operator drains the node,
    /// then removes it). Routes to the other nodes stay for the pods still running.
    func loseLease(_ reason: String) {
        guard leaseLost == nil else { return }
        leaseLost = reason
        metrics.leaseHeld.set(Int64(0))
        // rename(2) replaces an older .lost file: the newest subnet.env is the one pods were given.
        if rename(options.subnetFile, options.lostSubnetFile) != 0 && Errno(rawValue: errno) != .noSuchFileOrDirectory {
            // Without the rename the plugin would keep handing out the lost subnet: remove it instead.
            unlink(options.subnetFile)
        }
        logger.critical(
            "lease lost: no more pods get addresses on this node",
            metadata: [
                "reason": "\(reason)", "subnetFile": "\(options.lostSubnetFile)",
                "action": "drain the node, remove \(options.lostSubnetFile), restart weftd",
            ])
        writeStatus()
    }

    /// The lease was lost before this start (the subnet in subnet.env is another node's, or an earlier
    /// run left subnet.env.lost): weftd leases nothing and stays up, unhealthy, as loseLease leaves a
    /// running one: subnet.env moved to `.lost` (the plugin's ADD and STATUS refuse), /healthz 503
    /// `lease lost`, `weftd status` saying why, until an operator drains the node, removes the .lost
    /// file and restarts weftd (a reboot empties /run, a tmpfs, and with it both files).
    func standDown(lost subnet: IPNetwork?, _ reason: String) async throws {
        lostSubnet = subnet
        loseLease(reason)
        await Self.untilCancelled()
    }

    /// Suspends until the task is cancelled, with no timer: an AsyncStream's iterator ends on
    /// cancellation, and this one's continuation (kept alive here) never yields.
    static func untilCancelled() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        for await _ in stream {}
        continuation.finish()
    }

    /// `body`'s result, or an engine error once `seconds` pass (the body is cancelled).
    static func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw AgentError(.engine, "no answer from the engine within \(seconds) s")
            }
            return result
        }
    }
}
