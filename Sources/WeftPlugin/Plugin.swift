import FoundationEssentials
import WeftCNI
import WeftIPAM

/// The plugin's entry point: environment and stdin in, exit status and stdout out.
public enum Plugin {
    /// stdin larger than this is refused before parsing: a network config is a few KiB.
    public static let maxInputBytes = 4 << 20

    public struct Outcome {
        public let status: Int32
        public let output: Data
    }

    /// `weft`'s entry point: the bridge datapath.
    public static func run(
        environment: [String: String], input: Data, node: Node = .live,
        loadSubnetEnv: @escaping (String) throws -> SubnetEnv = SubnetEnv.load(path:)
    ) -> Outcome {
        run(WeftCommands.self, environment: environment, input: input, node: node, loadSubnetEnv: loadSubnetEnv)
    }

    static func run<C: PluginCommands>(
        _: C.Type, environment: [String: String], input: Data, node: Node = .live,
        loadSubnetEnv: @escaping (String) throws -> SubnetEnv = SubnetEnv.load(path:)
    ) -> Outcome {
        // The config's version when it is readable, for labelling every reply, errors included.
        let requestedVersion = requestedVersionText(input)
        let replyVersion = requestedVersion ?? CNIVersion.latest.description
        do {
            guard input.count <= maxInputBytes else {
                throw CNIError(.decodeFailure, "network config on stdin is \(input.count) bytes, over the \(maxInputBytes)-byte limit")
            }
            let env = try CNIEnvironment(environment)
            if env.command == .version {
                return Outcome(status: 0, output: VersionInfo(cniVersion: requestedVersion.flatMap(CNIVersion.init) ?? .latest).json)
            }
            let config = try NetworkConfig.decode(input, forRemoval: env.command == .del || env.command == .gc)
            let version = try CNIVersion.negotiate(config.cniVersion)
            let commands = C(environment: env, config: config, version: version, node: node, loadSubnetEnv: loadSubnetEnv)
            switch env.command {
            case .add:
                return Outcome(status: 0, output: try commands.add().json(for: version))
            case .del:
                try commands.del()
            case .check:
                try requireVersion(version, CNIVersion.check, for: "CHECK")
                try commands.check()
            case .status:
                try requireVersion(version, CNIVersion.statusAndGC, for: "STATUS")
                try commands.status()
            case .gc:
                try requireVersion(version, CNIVersion.statusAndGC, for: "GC")
                try commands.gc(validAttachments: try GCInput.validAttachments(input))
            case .version:
                break
            }
            return Outcome(status: 0, output: Data())
        } catch {
            let cniError = ErrorMapping.cniError(error)
            return Outcome(status: 1, output: cniError.json(cniVersion: replyVersion))
        }
    }

    private static func requireVersion(_ version: CNIVersion, _ minimum: CNIVersion, for command: String) throws {
        guard version >= minimum else {
            throw CNIError(.incompatibleVersion, "\(command) needs cniVersion \(minimum) or later, the config says \(version)")
        }
    }

    /// The config's cniVersion when it is readable, for labelling replies; nil when absent or unreadable.
    static func requestedVersionText(_ input: Data) -> String? {
        struct VersionOnly: Decodable { let cniVersion: String? }
        guard let text = (try? JSONDecoder().decode(VersionOnly.self, from: input))?.cniVersion,
            let version = CNIVersion(text), version.isSupported
        else { return nil }
        return text
    }
}

/// What a plugin executable does for each command; the dispatcher above does everything common.
protocol PluginCommands {
    init(
        environment: CNIEnvironment, config: NetworkConfig, version: CNIVersion, node: Node,
        loadSubnetEnv: @escaping (String) throws -> SubnetEnv)
    func add() throws -> CNIResult
    func del() throws
    func check() throws
    func status() throws
    func gc(validAttachments: [GCInput.ValidAttachment]) throws
}

/// GC's list of attachments to keep.
enum GCInput {
    /// One entry of `cni.dev/valid-attachments`; the network is the config's.
    struct ValidAttachment: Decodable, Equatable {
        let containerID: String
        let ifname: String
    }

    struct Wire: Decodable {
        let valid: [ValidAttachment]?
        let old: [ValidAttachment]?
        enum CodingKeys: String, CodingKey {
            case valid = "cni.dev/valid-attachments", old = "cni.dev/attachments"
        }
    }

    static func validAttachments(_ input: Data) throws -> [ValidAttachment] {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: input)
        } catch {
            throw CNIError(.invalidConfig, "cni.dev/valid-attachments must be a list of {containerID, ifname}", details: "\(error)")
        }
        // Without the list GC would release every attachment: refuse rather than guess.
        guard let attachments = wire.valid ?? wire.old else {
            throw CNIError(.invalidConfig, "cni.dev/valid-attachments is missing", details: "GC needs the list of attachments to keep")
        }
        return attachments
    }
}
