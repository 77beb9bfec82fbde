import Foundation
import WeftSystem
@_exported import WeftAgentState

extension AgentStatus {
    /// Rewrites the state file through DurableFile (temp file, rename), so a reader (`weftd status`)
    /// sees one whole version. Not fsynced (`.processCrash`): it is rewritten at every reconcile, and
    /// after a power loss weftd starts again and writes it before anything reads it as current. 0644:
    /// any user may read it.
    public func write(to path: String) throws {
        let data = try Self.encoder().encode(self)
        try AgentError.writingFile {
            try DurableFile.replace(
                path, with: String(decoding: data, as: UTF8.self) + "\n", mode: 0o644, directoryMode: 0o755, durability: .processCrash)
        }
    }
}
