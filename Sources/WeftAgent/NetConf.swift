import Foundation
import WeftAddress
import WeftCNI
import WeftJSON

/// flanneld's network configuration, the JSON under `<prefix>/config` (or in kube-flannel's
/// net-conf.json), with flannel's defaults applied and its checks made.
public struct NetConf: Equatable, Sendable {
    public enum Backend: Equatable, Sendable {
        case vxlan(vni: UInt32, port: UInt16)
        case hostGateway

        /// The name leases carry in BackendType.
        public var typeName: String {
            switch self {
            case .vxlan: return "vxlan"
            case .hostGateway: return "host-gw"
            }
        }
    }

    public let network: IPNetwork
    public let subnetLength: Int
    /// The first and the last subnet that may be leased (network addresses, aligned on subnetLength).
    public let subnetMin: IPAddress
    public let subnetMax: IPAddress
    public let backend: Backend
    /// The IPv6 half of a dual-stack network (`EnableIPv6`), nil for IPv4 only.
    public let ipv6: IPv6Subnets?

    /// flannel's default VNI and the Linux vxlan port it uses when Backend.Port is 0.
    public static let defaultVNI: UInt32 = 1
    public static let defaultVxlanPort: UInt16 = 8472

    public static func parse(_ text: String) throws -> NetConf {
        let config = try DecodedJSON.decode(NetConfDocument.self, from: text, "net-conf") { AgentError(.invalidConfig, $0) }
        if config.enableIPv4 == false {
            // flannel's etcd layout has no key for a lease without an IPv4 subnet.
            throw AgentError(.invalidConfig, "EnableIPv4 is false: weftd needs an IPv4 Network (IPv6 comes beside it, dual-stack)")
        }
        // As flannel: IPv6Network counts only with EnableIPv6.
        let ipv6 = config.enableIPv6 == true ? try IPv6Subnets.parse(config) : nil
        guard let networkText = config.network, let written = IPNetwork(networkText), written.family == .v4 else {
            throw AgentError(.invalidConfig, "Network must be an IPv4 CIDR (got \(config.network.map { "\"\($0)\"" } ?? "nothing"))")
        }
        let network = written.canonical
        let subnetLength = try Self.subnetLength(config.subnetLength, network: network)
        // The first subnet is skipped by default, as flannel does: its network address is the cluster's.
        // A network of one subnet has no second one: its SubnetMin is missing, and no subnet can be leased.
        let count = network.subnetCount(length: subnetLength) ?? 0
        let subnetMin =
            try Self.bound(config.subnetMin, name: "SubnetMin", network: network, length: subnetLength)
            ?? network.subnet(at: 1, length: subnetLength)?.networkAddress
        let subnetMax =
            try Self.bound(config.subnetMax, name: "SubnetMax", network: network, length: subnetLength)
            ?? network.subnet(at: count &- 1, length: subnetLength)?.networkAddress
        guard let subnetMin, let subnetMax, subnetMin <= subnetMax else {
            throw AgentError(.invalidConfig, "SubnetMin is above SubnetMax: no subnet can be leased")
        }
        return NetConf(
            network: network, subnetLength: subnetLength, subnetMin: subnetMin, subnetMax: subnetMax,
            backend: try Self.backend(config.backend), ipv6: ipv6)
    }

    public init(network: IPNetwork, subnetLength: Int, subnetMin: IPAddress, subnetMax: IPAddress, backend: Backend, ipv6: IPv6Subnets? = nil) {
        self.network = network; self.subnetLength = subnetLength
        self.subnetMin = subnetMin; self.subnetMax = subnetMax; self.backend = backend; self.ipv6 = ipv6
    }

    /// flannel's rule: a /24 per node when the network is larger than a /22, else a quarter of it;
    /// a network smaller than a /28 is refused.
    static func subnetLength(_ configured: Int?, network: IPNetwork) throws -> Int {
        if let configured, configured != 0 {
            guard configured >= network.prefixLength, configured <= 30 else {
                throw AgentError(.invalidConfig, "SubnetLen \(configured) does not fit Network \(network) (between /\(network.prefixLength) and /30)")
            }
            return configured
        }
        if network.prefixLength < 22 { return 24 }
        if network.prefixLength <= 28 { return network.prefixLength + 2 }
        throw AgentError(.invalidConfig, "Network \(network) is too small: the smallest usable network is a /28")
    }

    static func bound(_ text: String?, name: String, network: IPNetwork, length: Int) throws -> IPAddress? {
        guard let text else { return nil }
        guard let address = IPAddress(text), network.contains(address) else {
            throw AgentError(.invalidConfig, "\(name) \(text) is not an address of Network \(network)")
        }
        guard IPNetwork(address: address, prefixLength: length)?.hasHostBitsSet == false else {
            throw AgentError(.invalidConfig, "\(name) \(text) is not on a /\(length) (SubnetLen) boundary")
        }
        return address
    }

    static func backend(_ object: NetConfDocument.Backend?) throws -> Backend {
        let type = object?.type ?? "udp"
        switch type {
        case "vxlan":
            let vni = object?.vni ?? 0
            let port = object?.port ?? 0
            guard (0...0xff_ffff).contains(vni) else {
                throw AgentError(.invalidConfig, "Backend.VNI \(vni) is out of range (0…16777215)")
            }
            guard (0...65535).contains(port) else {
                throw AgentError(.invalidConfig, "Backend.Port \(port) is out of range (0…65535)")
            }
            return .vxlan(vni: vni == 0 ? defaultVNI : UInt32(vni), port: port == 0 ? defaultVxlanPort : UInt16(port))
        case "host-gw":
            return .hostGateway
        default:
            throw AgentError(.invalidConfig, "Backend.Type \"\(Validation.printable(type))\" is not supported (weftd has vxlan and host-gw)")
        }
    }
}
