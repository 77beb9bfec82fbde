import Foundation
import NIOCore
import NIOHTTP1

/// The latest count of local ready endpoints per Service and family, and whether the Services table is
/// written: written after each apply, read on the health check servers' event loops.
final class HealthCheckCounts: @unchecked Sendable {  // every field behind `lock`
    private let lock = NSLock()
    private var counts: [HealthCheckService: Int] = [:]
    private let proxyHealthy: @Sendable () -> Bool

    init(proxyHealthy: @escaping @Sendable () -> Bool) { self.proxyHealthy = proxyHealthy }

    func set(_ counts: [HealthCheckService: Int]) { lock.withLock { self.counts = counts } }

    /// A Service no longer planned (its socket about to close) has no local endpoint.
    func answer(for service: HealthCheckService) -> HealthCheckAnswer {
        let count = lock.withLock { counts[service] ?? 0 }
        return HealthCheckAnswer(namespace: service.namespace, name: service.name, localEndpoints: count, proxyHealthy: proxyHealthy())
    }
}

/// Answers every request on a health check socket, whatever its method and path (as kube-proxy's), then
/// closes the connection: a connection kept open would outlive the listening socket it came from, and a
/// load balancer opens one per probe anyway. A connection idle for 10 s is closed.
final class HealthCheckHandler: ChannelInboundHandler, @unchecked Sendable {  // used on its channel's event loop alone
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let idleTimeout = TimeAmount.seconds(10)

    private let service: HealthCheckService
    private let counts: HealthCheckCounts
    private var method = HTTPMethod.GET
    private var answered = false

    init(service: HealthCheckService, counts: HealthCheckCounts) {
        self.service = service
        self.counts = counts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): method = head.method
        case .body: break  // ignored, never buffered
        case .end:
            guard !answered else { return }
            answered = true
            let answer = counts.answer(for: service)
            var headers = HTTPHeaders()
            for (name, value) in answer.headers { headers.add(name: name, value: value) }
            headers.add(name: "Content-Length", value: String(answer.body.utf8.count))
            headers.add(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: .http1_1, status: answer.ok ? .ok : .serviceUnavailable, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
