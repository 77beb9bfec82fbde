import FoundationEssentials
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// stdin and stdout as raw file descriptors: no buffering layer, nothing to flush before exit.
/// swift-system's reads and writes retry on EINTR themselves.
public enum StandardIO {
    /// Reads stdin to its end or to `limit` bytes, whichever comes first.
    public static func readInput(limit: Int) -> Data {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            guard
                let count = try? chunk.withUnsafeMutableBytes({
                    try FileDescriptor.standardInput.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted]))
                }), count > 0
            else { break }
            bytes += chunk[0..<count]
        }
        return Data(bytes)
    }

    public static func writeOutput(_ data: Data) {
        _ = try? [UInt8](data).withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
    }
}

extension Plugin {
    public enum Kind { case bridge, ipam }

    /// An executable's whole life: read, run, print, exit.
    public static func main(_ kind: Kind = .bridge) -> Never {
        // One byte past the cap, so an oversized config is detected without reading all of it.
        let input = StandardIO.readInput(limit: maxInputBytes + 1)
        let environment = ProcessInfo.processInfo.environment
        let outcome =
            kind == .bridge
            ? run(WeftCommands.self, environment: environment, input: input)
            : run(IPAMCommands.self, environment: environment, input: input)
        if !outcome.output.isEmpty { StandardIO.writeOutput(outcome.output + Data("\n".utf8)) }
        exit(outcome.status)
    }
}
