import Foundation
import WeftSystem
@_exported import WeftAgentState

extension AgentStatus {
    /// Rewrites the state file through DurableFile (temp file, fsync, rename, fsync of the directory),
    /// so a reader (`weftd status`, /healthz) sees one whole version. 0644: any user may read it.
    public func write(to path: String) throws {
        let data = try Self.encoder().encode(self)
        do {
            try DurableFile.replace(path, with: String(decoding: data, as: UTF8.self) + "\n", mode: 0o644, directoryMode: 0o755)
        } catch {
            throw AgentError(.file, "\(error)")
        }
    }
}
