import Foundation
import Logging
@testable import WeftAgent
@testable import WeftKube
import WeftNetlink
import WeftSystem
import WeftTestSupport

/// A PolicyAgent alone, in a throwaway network namespace where its nftables client writes, with a
/// directory for its claims file. Events are handed to it as the watches would deliver them; its API
/// client is never reached (and is shut down by `withAgentLab`, as AsyncHTTPClient demands).
final class AgentLab {
    let name = "wt-\(TestNamespace.uniqueID())-agent"
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-agent-\(UUID().uuidString)").path
    var claimsFile: String { "\(directory)/announced.json" }
    private var clients: [KubeClient] = []

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try TestNamespace.add(name, loopbackUp: false)
    }

    func agent(syncWait: Double) throws -> PolicyAgent {
        let client = try KubeClient(credentials: KubeCredentials(server: "https://127.0.0.1:1"))
        clients.append(client)
        return try NetworkNamespace(path: "/var/run/netns/\(name)").run {
            try PolicyAgent(
                client: client, node: "n1", logger: Logger(label: "test"), metrics: AgentMetrics(), syncWait: syncWait,
                announcedFile: claimsFile)
        }
    }

    func finish() async {
        for client in clients { await client.shutdown() }
        TestNamespace.delete(name)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a new lab, finished whether it throws or not.
func withAgentLab(_ body: (AgentLab) async throws -> Void) async throws {
    let lab = try AgentLab()
    do {
        try await body(lab)
    } catch {
        await lab.finish()
        throw error
    }
    await lab.finish()
}

extension PolicyAgent {
    /// A whole list as the informer hands it over: started, one page, ended.
    func received(_ kind: Kind, listed objects: [[String: Any]]) {
        received(kind, .listStarted)
        received(kind, .listedPage(objects))
        received(kind, .listEnded)
    }
}
