import Foundation
import NIOCore
import NIOPosix
import WeftPolicy

/// weftd's policy socket: a Unix socket in a root-only directory (0700), itself 0600, so only root
/// (the runtime running the plugin, and weftctl) can ask. One JSON request per connection, one reply.
public final class PolicySocketServer: Sendable {
    private let channel: Channel

    private init(channel: Channel) { self.channel = channel }

    public static func start(path: String, agent: PolicyAgent) async throws -> PolicySocketServer {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw AgentError(.invalidConfig, "--policy-socket \(path): \(error)")
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.pipeline.addHandler(PolicyRequestHandler(agent: agent)) }
        do {
            let channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            guard chmod(path, 0o600) == 0 else { throw AgentError(.invalidConfig, "chmod 0600 \(path): \(String(cString: strerror(errno)))") }
            return PolicySocketServer(channel: channel)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.invalidConfig, "--policy-socket \(path) cannot be bound: \(error)")
        }
    }

    public func close() async { try? await channel.close() }
}

final class PolicyRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let agent: PolicyAgent
    private var received: [UInt8] = []
    private var answered = false

    init(agent: PolicyAgent) { self.agent = agent }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard !answered else { return }
        guard let newline = received.firstIndex(of: UInt8(ascii: "\n")) else {
            if received.count > 1 << 16 { reply(context, .failure("request over 64 KiB")) }
            return
        }
        guard let request = try? JSONDecoder().decode(PolicyRequest.self, from: Data(received[..<newline])) else {
            reply(context, .failure("not a policy request"))
            return
        }
        answered = true
        let agent = agent
        let promise = context.eventLoop.makePromise(of: PolicyReply.self)
        promise.completeWithTask { await agent.handle(request) }
        promise.futureResult.whenSuccess { [self] reply in self.reply(context, reply) }
    }

    private func reply(_ context: ChannelHandlerContext, _ reply: PolicyReply) {
        answered = true
        let bytes = PolicySocket.encode(reply)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }
}
