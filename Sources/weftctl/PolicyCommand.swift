import ArgumentParser
import WeftPolicy

/// `weftctl policy ls [--pod NS/NAME]`: what NetworkPolicy does to this node's pods, in words, as the
/// local weftd (--network-policy) has it.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "NetworkPolicy on this node, from the local weftd.", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "What applies to each pod of this node, or to one.")
        @Option(help: "One pod, as NAMESPACE/NAME.") var pod: String?
        @Option(help: "weftd's policy socket.") var socket = PolicySocket.defaultPath

        func run() throws {
            var request = PolicyRequest(op: .explain)
            if let pod {
                let parts = pod.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ValidationError("--pod \(pod) is not NAMESPACE/NAME")
                }
                request.namespace = String(parts[0])
                request.name = String(parts[1])
            }
            let reply: PolicyReply
            do {
                reply = try PolicyClient(path: socket).send(request)
            } catch {
                throw ValidationError("\(error) (is weftd running with --network-policy?)")
            }
            guard reply.ok else { throw ValidationError(reply.error ?? "weftd refused") }
            print(reply.text ?? "")
        }
    }
}
