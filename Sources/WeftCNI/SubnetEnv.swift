import FoundationEssentials
import WeftAddress

/// flanneld's `subnet.env`: this node's lease, written as shell assignments. weftd writes it (`text`)
/// and the `weft` plugin (and flannel's) reads it (`parse`): one type owns the format both ways.
public struct SubnetEnv: Sendable, Equatable {
    public static let defaultPath = "/run/flannel/subnet.env"

    /// FLANNEL_NETWORK (and FLANNEL_IPV6_NETWORK): the cluster networks, canonical.
    public var networks: [IPNetwork] = []
    /// FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET: the node subnet, with the gateway's host bits set.
    public var subnets: [IPNetwork] = []
    public var mtu: Int?
    public var ipMasq: Bool?

    public init(networks: [IPNetwork] = [], subnets: [IPNetwork] = [], mtu: Int? = nil, ipMasq: Bool? = nil) {
        self.networks = networks
        self.subnets = subnets
        self.mtu = mtu
        self.ipMasq = ipMasq
    }

    /// What weftd writes for its lease: FLANNEL_SUBNET names the node's gateway, the subnet's first host
    /// address (10.244.3.1/24), and FLANNEL_IPV6_SUBNET likewise (fd00:0:0:3::1/64). FLANNEL_IPMASQ=true
    /// would tell the plugin that the agent masquerades; weftd never does, so the plugin keeps its own
    /// ipMasq rules (which leave the cluster network unmasqueraded).
    public init(network: IPNetwork, subnet: IPNetwork, mtu: Int, ipMasq: Bool = false, ipv6: (network: IPNetwork, subnet: IPNetwork)? = nil) {
        func gateway(_ subnet: IPNetwork) -> IPNetwork {
            let network = subnet.canonical
            return network.networkAddress.advanced(by: 1).flatMap { IPNetwork(address: $0, prefixLength: network.prefixLength) } ?? network
        }
        self.init(
            networks: [network.canonical] + (ipv6.map { [$0.network.canonical] } ?? []),
            subnets: [gateway(subnet)] + (ipv6.map { [gateway($0.subnet)] } ?? []), mtu: mtu, ipMasq: ipMasq)
    }

    /// The file as flanneld writes it, in flannel's order: the IPv4 network and subnet, the IPv6 ones,
    /// the MTU, the masquerade flag.
    public var text: String {
        func line(_ key: String, _ values: [IPNetwork]) -> [String] {
            values.isEmpty ? [] : ["\(key)=\(values.map(\.description).joined(separator: ","))"]
        }
        var lines = line("FLANNEL_NETWORK", networks.filter { $0.family == .v4 })
        lines += line("FLANNEL_SUBNET", subnets.filter { $0.family == .v4 })
        lines += line("FLANNEL_IPV6_NETWORK", networks.filter { $0.family == .v6 })
        lines += line("FLANNEL_IPV6_SUBNET", subnets.filter { $0.family == .v6 })
        if let mtu { lines.append("FLANNEL_MTU=\(mtu)") }
        if let ipMasq { lines.append("FLANNEL_IPMASQ=\(ipMasq)") }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func load(path: String) throws -> SubnetEnv {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            // The usual case after a reboot or on a new node: /run is empty until the agent holds a subnet.
            throw CNIError(
                .ioFailure,
                "subnetFile \"\(path)\" does not exist: this node's subnet is not known yet "
                    + "(weftd, or flanneld, writes it once the node holds its subnet)")
        } catch let error as CocoaError {
            let reason = (error.underlying as? POSIXError).map { "\($0.code)" } ?? "\(error.code.rawValue)"
            throw CNIError(.ioFailure, "subnetFile \"\(path)\" cannot be read", details: reason)
        } catch {
            throw CNIError(.ioFailure, "subnetFile \"\(path)\" cannot be read", details: "\(error)")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String = defaultPath) throws -> SubnetEnv {
        var env = SubnetEnv()
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = trimmed(rawLine)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw CNIError(.invalidConfig, "\(path): line \"\(Validation.printable(line))\" is not KEY=VALUE")
            }
            let key = String(parts[0])
            let value = trimmed(parts[1], also: ["\"", "'"])
            func invalid() -> CNIError {
                CNIError(.invalidConfig, "\(path): \(key) has an invalid value \"\(Validation.printable(value))\"")
            }
            switch key {
            case "FLANNEL_NETWORK", "FLANNEL_IPV6_NETWORK":
                for item in value.split(separator: ",") {
                    guard let network = IPNetwork(trimmed(item)) else { throw invalid() }
                    env.networks.append(network.canonical)
                }
            case "FLANNEL_SUBNET", "FLANNEL_IPV6_SUBNET":
                guard !value.isEmpty else { continue }
                guard let subnet = IPNetwork(value) else { throw invalid() }
                env.subnets.append(subnet)
            case "FLANNEL_MTU":
                guard let mtu = Int(value) else { throw invalid() }
                env.mtu = mtu
            case "FLANNEL_IPMASQ":
                guard let flag = Bool(value.lowercased()) else { throw invalid() }
                env.ipMasq = flag
            default:
                continue
            }
        }
        guard !env.subnets.isEmpty else {
            throw CNIError(.invalidConfig, "\(path) has no FLANNEL_SUBNET", details: "flanneld writes it once it holds a lease")
        }
        return env
    }

    /// The text without surrounding white space (and any of `also`).
    private static func trimmed<S: StringProtocol>(_ text: S, also: Set<Character> = []) -> String {
        let drop: (Character) -> Bool = { $0.isWhitespace || also.contains($0) }
        return String(text.drop(while: drop).reversed().drop(while: drop).reversed())
    }
}
