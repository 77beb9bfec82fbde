/// The CNI_* environment of one invocation, validated before anything on the node changes.
public struct CNIEnvironment: Sendable, Equatable {
    public enum Command: String, Sendable, CaseIterable {
        case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", status = "STATUS", gc = "GC"

        /// The variables the CNI spec requires for this command.
        var requiredVariables: [String] {
            switch self {
            case .add, .check: return ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]
            case .del: return ["CNI_CONTAINERID", "CNI_IFNAME"]
            case .version, .status, .gc: return []
            }
        }
    }

    public let command: Command
    public let containerID: String
    /// Empty when the runtime sent none (allowed for DEL).
    public let netns: String
    public let ifname: String
    public let args: CNIArgs
    public let path: [String]

    public init(_ environment: [String: String]) throws {
        guard let raw = environment["CNI_COMMAND"], !raw.isEmpty else {
            throw CNIError(
                .invalidEnvironment, "CNI_COMMAND is not set",
                details: "expected one of \(Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let command = Command(rawValue: raw) else {
            throw CNIError(
                .invalidEnvironment, "CNI_COMMAND \"\(raw)\" is not a CNI command",
                details: "expected one of \(Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.command = command

        let missing = command.requiredVariables.filter { (environment[$0] ?? "").isEmpty }
        if !missing.isEmpty {
            throw CNIError(
                .invalidEnvironment, "\(command.rawValue) needs \(missing.joined(separator: ", ")), which \(missing.count == 1 ? "is" : "are") not set")
        }
        containerID = environment["CNI_CONTAINERID"] ?? ""
        netns = environment["CNI_NETNS"] ?? ""
        ifname = environment["CNI_IFNAME"] ?? ""
        path = (environment["CNI_PATH"] ?? "").split(separator: ":").map(String.init)
        args = try CNIArgs(environment["CNI_ARGS"] ?? "")

        // VERSION, STATUS and GC ignore the attachment variables: libcni validates a conflist by calling
        // VERSION with CNI_NETNS=dummy, and podman refuses a network whose plugin fails that.
        guard [.add, .del, .check].contains(command) else { return }
        if !containerID.isEmpty { try Validation.containerID(containerID) }
        if !ifname.isEmpty { try Validation.interfaceName(ifname, key: "CNI_IFNAME") }
        if !netns.isEmpty, !netns.hasPrefix("/") {
            throw CNIError(.invalidEnvironment, "CNI_NETNS \"\(Validation.printable(netns))\" is not an absolute path")
        }
        // DEL takes whatever it is given (it must never fail for a pod ADD could have made): the pod's
        // Kubernetes identity is only read by ADD and CHECK.
        if command != .del, let namespace = args["K8S_POD_NAMESPACE"], let name = args["K8S_POD_NAME"],
            !namespace.isEmpty || !name.isEmpty
        {
            try Validation.podIdentity(namespace: namespace, name: name)
        }
    }
}

/// CNI_ARGS: `K=V;K=V`. Unknown keys are an error unless `IgnoreUnknown` is true, as the spec's library does.
public struct CNIArgs: Sendable, Equatable {
    public static let known: Set<String> = ["IgnoreUnknown", "IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]

    public let values: [String: String]

    public init(_ text: String) throws {
        var values: [String: String] = [:]
        for pair in text.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].contains("=") else {
                throw CNIError(.invalidEnvironment, "CNI_ARGS entry \"\(pair)\" is not KEY=VALUE")
            }
            values[String(parts[0])] = String(parts[1])
        }
        let ignoreUnknown = ["1", "true"].contains(values["IgnoreUnknown"]?.lowercased() ?? "")
        if !ignoreUnknown, let unknown = values.keys.sorted().first(where: { !CNIArgs.known.contains($0) }) {
            throw CNIError(
                .unsupportedField, "CNI_ARGS key \"\(unknown)\" is not supported",
                details: "set IgnoreUnknown=1 to ignore it")
        }
        self.values = values
    }

    public subscript(key: String) -> String? { values[key] }
}
