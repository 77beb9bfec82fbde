import Logging
import ServiceLifecycle
import UnixSignals

/// weftd's run loop: its parts as services of one ServiceGroup, listed in start order. SIGTERM or
/// SIGINT shuts them down gracefully in reverse order, each after the one listed after it has
/// finished; so does any part that ends or throws, and the group then throws its error (weftd exits 1).
/// No part undoes its kernel state when it stops: routes, neighbours, FDB entries, the vxlan device,
/// subnet.env and the lease stay, so pods keep their connectivity while weftd restarts.
public enum WeftdServiceGroup {
    /// How long the parts get to stop after a signal before the group cancels what is left.
    public static let shutdownBound: Duration = .seconds(10)

    /// `bound`: nil waits for the parts however long they take (tests, whose pool may be starved).
    public static func make(
        _ services: [any Service], logger: Logger, signals: [UnixSignal] = [.sigterm, .sigint],
        bound: Duration? = shutdownBound
    ) -> ServiceGroup {
        // The signals are SignalStop's, which names the one that came; the group traps none itself.
        let stop: [any Service] = signals.isEmpty ? [] : [SignalStop(signals: signals, logger: logger)]
        var configuration = ServiceGroupConfiguration(
            services: (services + stop).map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [], logger: logger)
        configuration.maximumGracefulShutdownDuration = bound
        return ServiceGroup(configuration: configuration)
    }
}

/// weftd's parts, each present or not, and the one start order they run in (`services`): weftd's run and
/// the tests build the list here, so the order the tests check is the order weftd uses.
public struct WeftdParts {
    public var connections: (@Sendable () async -> Void)?
    public var statusServer: (@Sendable () async -> Void)?
    public var lease: (@Sendable () async throws -> Void)?
    public var fabric: (@Sendable () async throws -> Void)?
    public var serviceAgent: (@Sendable () async throws -> Void)?
    public var policyAgent: (@Sendable () async throws -> Void)?
    public var policySocket: (@Sendable () async -> Void)?
    public var readiness: (@Sendable () async throws -> Void)?
    public var shutdownNotice: (@Sendable () async -> Void)?

    public init() {}

    /// Start order; a signal stops them in reverse: the readiness gate first, then the policy socket (no
    /// attach arrives at a stopped agent), the policy watches, the Services watches, the fabric, the
    /// lease, /healthz and /metrics, and last the connections to the engine and the API server the others
    /// used. The shutdown notice is last in start order, so it is said first. The Services agent starts
    /// after the fabric (endpoints on other nodes are reached over it) and before the policy agent and
    /// the readiness gate, so it is writing while pods are being admitted; stopped, it leaves its table
    /// in place like every part, so Services keep working while weftd restarts.
    public var services: [any Service] {
        var services: [any Service] = []
        if let connections { services.append(ClosedOnShutdown("connections", close: connections)) }
        if let statusServer { services.append(ClosedOnShutdown("status server", close: statusServer)) }
        if let lease { services.append(CancelledOnShutdown("lease", lease)) }
        if let fabric { services.append(CancelledOnShutdown("fabric", fabric)) }
        if let serviceAgent { services.append(CancelledOnShutdown("service agent", serviceAgent)) }
        if let policyAgent { services.append(CancelledOnShutdown("policy agent", policyAgent)) }
        if let policySocket { services.append(ClosedOnShutdown("policy socket", close: policySocket)) }
        if let readiness { services.append(CancelledOnShutdown("node readiness", readiness)) }
        if let shutdownNotice { services.append(ClosedOnShutdown("shutdown notice", close: shutdownNotice)) }
        return services
    }
}
