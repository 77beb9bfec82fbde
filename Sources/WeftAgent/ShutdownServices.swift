import ServiceLifecycle

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
