import FoundationEssentials
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Why a request to weftd got no answer.
public struct PolicyClientError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case unreachable, timedOut, badReply }
    public let kind: Kind
    public let message: String
    public var description: String { message }
}

/// The plugin's and weftctl's side of weftd's policy socket: blocking POSIX calls (no event loop in a
/// process that lives for one command), with a deadline on every read and write.
public struct PolicyClient: Sendable {
    public let path: String
    public let timeoutSeconds: Int

    public init(path: String = PolicySocket.defaultPath, timeoutSeconds: Int = 10) {
        self.path = path; self.timeoutSeconds = timeoutSeconds
    }

    public func send(_ request: PolicyRequest) throws -> PolicyReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PolicyClientError(kind: .unreachable, message: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw PolicyClientError(kind: .unreachable, message: "socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw PolicyClientError(kind: .unreachable, message: "weftd's policy socket \(path): \(String(cString: strerror(errno)))")
        }
        // swift-system's reads and writes retry on EINTR themselves; SO_SNDTIMEO and SO_RCVTIMEO end a
        // wait with EAGAIN (EWOULDBLOCK), which is the deadline.
        let socket = FileDescriptor(rawValue: fd)
        let message: [UInt8]
        do {
            message = try PolicySocket.encode(request)
        } catch {
            throw PolicyClientError(kind: .badReply, message: "the request cannot be encoded: \(error)")
        }
        do {
            _ = try message.withUnsafeBytes { try socket.writeAll($0) }
        } catch let code as Errno {
            throw failure("write", code)
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            } catch let code as Errno {
                throw failure("read", code)
            }
            if n == 0 { break }
            reply += buffer[..<n]
            guard reply.count < 1 << 20 else { throw PolicyClientError(kind: .badReply, message: "weftd's reply is over 1 MiB") }
        }
        let line = reply.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).first ?? []
        guard let decoded = try? JSONDecoder().decode(PolicyReply.self, from: Data(line)) else {
            throw PolicyClientError(kind: .badReply, message: "weftd's reply is not a policy reply: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        return decoded
    }

    private func failure(_ operation: String, _ code: Errno) -> PolicyClientError {
        let timedOut = code == .wouldBlock  // EAGAIN and EWOULDBLOCK are one value on Linux
        return PolicyClientError(
            kind: timedOut ? .timedOut : .unreachable,
            message: timedOut ? "weftd did not answer within \(timeoutSeconds) s" : "\(operation) \(path): \(String(cString: strerror(code.rawValue)))")
    }
}
