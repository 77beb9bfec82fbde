import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import WeftPolicy

/// weftd's policy socket: a Unix socket in a root-only directory (0700), itself 0600, so only root
/// (the runtime running the plugin, and weftctl) can ask. One JSON request per connection, one reply.
/// Bounded whatever a client does: one request line of at most 64 KiB, read within `requestDeadline`
/// (anything after it is discarded unread), at most `maximumConnections` at once (more are closed at
/// once), and a connection is closed `connectionDeadline` after it opened, answered or not.
public final class PolicySocketServer: Sendable {
    static let maximumRequest = 1 << 16
    static let maximumConnections = 64
    static let requestDeadline = TimeAmount.seconds(5)
    /// Past the plugin's own 10 s wait: an attach still running then has no one to answer.
    static let connectionDeadline = TimeAmount.seconds(30)

    private let channel: Channel

    private init(channel: Channel) { self.channel = channel }

    public static func start(path: String, agent: PolicyAgent) async throws -> PolicySocketServer {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw AgentError(.invalidConfig, "--policy-socket \(path): \(error)")
        }
        // Whoever made it (kubelet's hostPath DirectoryOrCreate makes 0755): root's, and root's alone.
        var info = stat()
        guard stat(directory, &info) == 0, info.st_uid == 0 || info.st_uid == geteuid(), chmod(directory, 0o700) == 0 else {
            throw AgentError(.invalidConfig, "--policy-socket \(path): \(directory) is not weftd's to keep private (owner \(info.st_uid))")
        }
        let connections = NIOLockedValueBox(0)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.pipeline.addHandler(PolicyRequestHandler(agent: agent, connections: connections)) }
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

/// One connection's request and reply; runs on its channel's event loop alone.
final class PolicyRequestHandler: ChannelInboundHandler, @unchecked Sendable {  // on its event loop alone
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let agent: PolicyAgent
    private let connections: NIOLockedValueBox<Int>
    private var received: [UInt8] = []
    /// The request line was read (or refused): nothing more is read into memory.
    private var requestRead = false
    private var counted = false

    init(agent: PolicyAgent, connections: NIOLockedValueBox<Int>) {
        self.agent = agent
        self.connections = connections
    }

    /// The request line as bytes so far (tests read it).
    var bufferedBytes: Int { received.count }

    func channelActive(context: ChannelHandlerContext) {
        let admitted = connections.withLockedValue { open -> Bool in
            guard open < PolicySocketServer.maximumConnections else { return false }
            open += 1
            return true
        }
        guard admitted else {
            context.close(promise: nil)
            return
        }
        counted = true
        context.eventLoop.scheduleTask(in: PolicySocketServer.requestDeadline) { [self] in
            if !requestRead { requestRead = true; reply(context, .failure("no request within the deadline")) }
        }
        context.eventLoop.scheduleTask(in: PolicySocketServer.connectionDeadline) { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { connections.withLockedValue { $0 -= 1 }; counted = false }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !requestRead else { return }  // one request per connection: the rest is dropped unread
        var buffer = unwrapInboundIn(data)
        let room = PolicySocketServer.maximumRequest + 1 - received.count
        received += buffer.readBytes(length: min(buffer.readableBytes, room)) ?? []
        guard let newline = received.firstIndex(of: UInt8(ascii: "\n")) else {
            if received.count > PolicySocketServer.maximumRequest {
                requestRead = true
                received = []
                reply(context, .failure("request over 64 KiB"))
            }
            return
        }
        requestRead = true
        let line = Data(received[..<newline])
        received = []
        guard let request = PolicyRequest.parse(line) else {
            reply(context, .failure("not a policy request"))
            return
        }
        let agent = agent
        let promise = context.eventLoop.makePromise(of: PolicyReply.self)
        promise.completeWithTask { await agent.handle(request) }
        promise.futureResult.whenSuccess { [self] answer in
            // The client gave up (the plugin waits 10 s, then isolates or refuses the pod): undo the attach.
            guard context.channel.isActive else {
                Task { await agent.abandon(request) }
                return
            }
            reply(context, answer) { written in if !written { Task { await agent.abandon(request) } } }
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ reply: PolicyReply, written: @escaping @Sendable (Bool) -> Void = { _ in }) {
        // A reply JSONEncoder refuses is answered with a failure the client can read (its text is a plain
        // string, which encodes), never with a line that is not a reply.
        let bytes = (try? PolicySocket.encode(reply)) ?? (try? PolicySocket.encode(PolicyReply.failure("weftd could not encode its reply"))) ?? []
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { result in
            if case .failure = result { written(false) } else { written(true) }
            context.close(promise: nil)
        }
    }
}
