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
        var configuration = ServiceGroupConfiguration(
            services: services.map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: signals, logger: logger)
        configuration.maximumGracefulShutdownDuration = bound
        return ServiceGroup(configuration: configuration)
    }
}
