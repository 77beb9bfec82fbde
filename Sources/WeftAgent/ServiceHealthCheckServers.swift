import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import WeftAddress
import WeftServices

/// kube-proxy's health check servers for weftd --services: one HTTP listener per healthCheckNodePort
/// and node address, answering whether this node has a local ready endpoint of the Service
/// (HealthCheckAnswer), so that a cloud load balancer sends `externalTrafficPolicy: Local` traffic only
/// to nodes that can serve it.
/// - `update` is called after each successful write of the Services table: the counts it carries are
///   answered at once; the sockets follow in `run` (binding is asynchronous), which opens those a
///   Service gained and closes those it lost, one update at a time, the latest one winning.
/// - A socket that cannot be bound (the port taken by another process) is logged once while it fails,
///   counted each time, and tried again on the next update; it never stops weftd.
/// - `run` closes every socket when it is cancelled (weftd's shutdown).
public actor ServiceHealthCheckServers {
    nonisolated let counts: HealthCheckCounts
    private nonisolated let updates: AsyncStream<Set<HealthCheckListen>>
    private nonisolated let updateContinuation: AsyncStream<Set<HealthCheckListen>>.Continuation
    private let logger: Logger
    private let metrics: AgentMetrics
    private let group: any EventLoopGroup
    private var open: [HealthCheckListen: Channel] = [:]
    private var failing: Set<HealthCheckListen> = []

    /// `proxyHealthy`: whether the Services table is written (ServiceHealth); a 503 while it is not, as
    /// kube-proxy answers while its own health is bad.
    public init(
        logger: Logger, metrics: AgentMetrics, proxyHealthy: @escaping @Sendable () -> Bool,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.logger = logger; self.metrics = metrics; self.group = group
        counts = HealthCheckCounts(proxyHealthy: proxyHealthy)
        (updates, updateContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// What the plans just written ask for on these node addresses: counts now, sockets in `run`.
    public nonisolated func update(_ plans: [ServicePortPlan], nodeAddresses: [IPAddress]) {
        let plan = ServiceHealthCheckPlan(plans: plans, nodeAddresses: nodeAddresses)
        counts.set(plan.localEndpoints)
        updateContinuation.yield(plan.listens)
    }

    /// Follows updates until cancelled, then closes every socket.
    public func run() async {
        for await listens in updates { await reconcile(listens) }
        await closeAll()
    }

    /// The sockets open now.
    public var listening: Set<HealthCheckListen> { Set(open.keys) }

    /// Closes the sockets not in `listens` (first: a port moving between Services is free again), then
    /// opens the missing ones.
    public func reconcile(_ listens: Set<HealthCheckListen>) async {
        failing.formIntersection(listens)
        for (listen, channel) in open where !listens.contains(listen) {
            open[listen] = nil
            try? await channel.close()
            logger.info("health check port closed", metadata: ["listen": "\(listen)"])
        }
        for listen in listens.sorted(by: { "\($0)" < "\($1)" }) where open[listen] == nil {
            do {
                open[listen] = try await bind(listen)
                failing.remove(listen)
                logger.info("health check port open", metadata: ["listen": "\(listen)"])
            } catch {
                metrics.serviceHealthCheckBindErrors.increment()
                if failing.insert(listen).inserted {
                    logger.error(
                        "health check port cannot be bound: tried again on the next Services change", metadata: ["listen": "\(listen)", "error": "\(error)"])
                }
            }
        }
        metrics.serviceHealthCheckListeners.set(Int64(open.count))
    }

    public func closeAll() async { await reconcile([]) }

    private func bind(_ listen: HealthCheckListen) async throws -> Channel {
        let counts = counts
        let bootstrap = ServerBootstrap(group: group)
            // Connections this server closed leave the port in TIME_WAIT: without it, the port could not
            // be bound again for a minute after the Service lost and regained it.
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: HealthCheckHandler.idleTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HealthCheckHandler(service: listen.service, counts: counts))
                }
            }
        let address = try SocketAddress(ipAddress: listen.address.description, port: Int(listen.port))
        return try await bootstrap.bind(to: address).get()
    }
}
