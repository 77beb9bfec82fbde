import NIOCore
import NIOHTTP1
import NIOPosix

/// The local HTTP endpoint: GET /healthz (200 "ok" or 503 with the reason), GET /livez and GET /metrics
/// (Prometheus text). Everything else is 404. Meant for 127.0.0.1: it serves no secrets but
/// needs no one else.
public final class StatusServer: Sendable {
    public typealias Health = @Sendable () -> (healthy: Bool, reason: String)

    private let channel: Channel

    private init(channel: Channel) { self.channel = channel }

    /// Binds `host:port` (port 0 picks one) and serves until `close()`.
    public static func start(host: String, port: Int, metrics: AgentMetrics, health: @escaping Health) async throws -> StatusServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(StatusHandler(metrics: metrics, health: health))
                }
            }
        do {
            return StatusServer(channel: try await bootstrap.bind(host: host, port: port).get())
        } catch {
            throw AgentError(.invalidConfig, "--metrics-address \(host):\(port) cannot be bound: \(error)")
        }
    }

    public var port: Int? { channel.localAddress?.port }

    public func close() async { try? await channel.close() }
}

final class StatusHandler: ChannelInboundHandler, @unchecked Sendable {  // used on its channel's event loop alone
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: AgentMetrics
    private let health: StatusServer.Health
    private var path = ""
    private var method = HTTPMethod.GET

    init(metrics: AgentMetrics, health: @escaping StatusServer.Health) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            method = head.method
        case .body:
            break
        case .end:
            let (status, contentType, body) = response()
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func response() -> (HTTPResponseStatus, String, String) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "text/plain", "GET only\n") }
        switch path {
        case "/healthz":
            let (healthy, reason) = health()
            return (healthy ? .ok : .serviceUnavailable, "text/plain", reason + "\n")
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", metrics.exposition())
        case "/livez":
            // The process answers: what a liveness probe asks. /healthz says whether it knows the
            // cluster, which restarting it would not change (an API server outage).
            return (.ok, "text/plain", "ok\n")
        default:
            return (.notFound, "text/plain", "not found\n")
        }
    }
}
