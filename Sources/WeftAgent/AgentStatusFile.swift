import Foundation
@_exported import WeftAgentState

extension AgentStatus {
    /// Rewrites the state file atomically (temp file, fsync, rename), so a reader sees one whole version.
    public func write(to path: String) throws {
        let data = try Self.encoder().encode(self)
        try AtomicFile.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: path)
    }
}
