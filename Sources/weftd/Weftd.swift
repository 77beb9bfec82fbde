import ArgumentParser
import Foundation
import Logging
import WeftAddress
import WeftAgent

/// weftd: the node agent. `weftd run` (the default) leases this node's subnet and connects the nodes;
/// `weftd status` prints what the running agent wrote to its state file.
@main
struct Weftd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weftd",
        abstract: "Weft's node agent: subnet leases on etcd, vxlan or host-gw between nodes, subnet.env for the weft plugin.",
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show this node's lease and peers, as the running agent last wrote them.")

    @Option(help: "The agent's state file.") var stateFile = AgentStatus.defaultPath
    @Flag(help: "Print the state file's JSON (format version 1) instead of a summary.") var json = false

    func run() throws {
        do {
            let status = try AgentStatus.read(from: stateFile)
            if json {
                print(String(decoding: try AgentStatus.encoder().encode(status), as: UTF8.self))
            } else {
                print(status.summary)
            }
            // Like a health probe: non-zero when the agent is not healthy.
            if !status.health().healthy { throw ExitCode(3) }
        } catch let error as AgentStateError {
            FileHandle.standardError.write(Data("weftd status: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
