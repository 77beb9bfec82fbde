import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// A part of weftd that runs until cancelled (the lease, the fabric, the policy watches, the readiness
/// gate), as a ServiceGroup service: the group's graceful shutdown cancels it. What it throws once it
/// is cancelled (a CancellationError out of a sleep, a request cut short) is the stop, not a failure.
public struct CancelledOnShutdown: Service, CustomStringConvertible {
    public let description: String
    let body: @Sendable () async throws -> Void

    public init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        description = name
        self.body = body
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown(body)
        } catch  where Task.isShuttingDownGracefully || Task.isCancelled {
            return
        }
    }
}

/// A part of weftd that serves by itself once opened (a listening socket, a client's connections), as a
/// ServiceGroup service: it waits for the group's graceful shutdown (or cancellation), then closes.
public struct ClosedOnShutdown: Service, CustomStringConvertible {
    public let description: String
    let close: @Sendable () async -> Void

    public init(_ name: String, close: @escaping @Sendable () async -> Void) {
        description = name
        self.close = close
    }

    public func run() async throws {
        // Throws only when cancelled: closed either way.
        try? await gracefulShutdown()
        await close()
    }
}

/// The signal that stops weftd, named in its log. ServiceGroup traps its graceful-shutdown signals itself
/// but tells its services only that the group shuts down, not which signal did it (it logs the signal at
/// debug level). So the group traps none and this service does: the first signal is logged as a notice
/// ("stopping on SIGTERM"), then the service returns, and its return (successTerminationBehavior
/// gracefullyShutdownGroup) shuts the group down in reverse order as a trapped signal would have. A
/// shutdown with another cause (a part that failed) ends it without a word.
public struct SignalStop: Service, CustomStringConvertible {
    public let description = "signal stop"
    let signals: [UnixSignal]
    let logger: Logger
    /// The trap, kept as long as the group holds this service: a second signal during the shutdown is
    /// caught and dropped, as the group's own trap did, instead of meeting the default action.
    private let trap = NIOLockedValueBox<UnixSignalsSequence?>(nil)

    public init(signals: [UnixSignal], logger: Logger) {
        self.signals = signals
        self.logger = logger
    }

    public func run() async throws {
        let caught = await UnixSignalsSequence(trapping: signals)
        trap.withLockedValue { $0 = caught }
        // Returns on the first signal, or when the group shuts down for another cause.
        await cancelWhenGracefulShutdown {
            for await signal in caught {
                logger.notice("stopping on \(signal)", metadata: ["signal": "\(signal)"])
                return
            }
        }
    }
}
