import Foundation
import WeftAddress
import WeftJSON
import WeftNetlink

/// A node's lease as flannel stores it: the key `<prefix>/subnets/<a.b.c.d>-<len>` (dual-stack:
/// `<a.b.c.d>-<len>&<ipv6>-<len>`) and the JSON of flannel's LeaseAttrs as value.
public struct SubnetLease: Equatable, Sendable {
    public let subnet: IPNetwork
    /// The IPv6 subnet of a dual-stack lease.
    public let ipv6Subnet: IPNetwork?
    public var attributes: LeaseAttributes

    public init(subnet: IPNetwork, ipv6Subnet: IPNetwork? = nil, attributes: LeaseAttributes) {
        self.subnet = subnet.canonical
        self.ipv6Subnet = ipv6Subnet?.canonical
        self.attributes = attributes
    }

    /// The key's last part, flannel's MakeSubnetKey: "10.244.3.0-24", or "10.244.3.0-24&fd00:0:0:3::-64"
    /// with an IPv6 subnet (Go's compressed IPv6 text).
    public static func keyName(_ subnet: IPNetwork, ipv6: IPNetwork? = nil) -> String {
        "\(subnet.networkAddress)-\(subnet.prefixLength)" + (ipv6.map { "&\($0.networkAddress)-\($0.prefixLength)" } ?? "")
    }

    public var keyName: String { Self.keyName(subnet, ipv6: ipv6Subnet) }

    /// The subnets a key names (flannel's ParseSubnetKey): the IPv4 one always, the IPv6 one of a
    /// dual-stack key.
    public static func subnets(fromKey key: String) -> (IPNetwork, IPNetwork?)? {
        guard let name = key.split(separator: "/").last else { return nil }
        let halves = name.split(separator: "&", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func parse(_ text: String, _ family: IPAddress.Family) -> IPNetwork? {
            guard let dash = text.lastIndex(of: "-"), let address = IPAddress(String(text[..<dash])), address.family == family,
                let length = Int(text[text.index(after: dash)...]), let subnet = IPNetwork(address: address, prefixLength: length),
                !subnet.hasHostBitsSet
            else { return nil }
            return subnet
        }
        guard let ipv4 = parse(halves[0], .v4) else { return nil }
        if halves.count == 2 {
            guard let ipv6 = parse(halves[1], .v6) else { return nil }
            return (ipv4, ipv6)
        }
        return (ipv4, nil)
    }

    /// The IPv4 subnet a key names.
    public static func subnet(fromKey key: String) -> IPNetwork? { subnets(fromKey: key)?.0 }

    /// The node's VTEP address: the subnet's network address, as flannel gives its flannel.N device
    /// (10.244.3.0/32), so routes between mixed weftd and flanneld nodes name the same gateway.
    public var vtepAddress: IPAddress { subnet.networkAddress }
    /// The same for IPv6 on flannel-v6.N (weft-v6.N): the IPv6 subnet's network address, /128.
    public var ipv6VtepAddress: IPAddress? { ipv6Subnet?.networkAddress }
}

/// flannel's LeaseAttrs: PublicIP, PublicIPv6, BackendType, BackendData and BackendV6Data (vxlan: VNI
/// and VtepMAC, of the IPv4 and of the IPv6 device).
public struct LeaseAttributes: Equatable, Sendable {
    public var publicIP: IPAddress
    public var backendType: String
    /// vxlan's BackendData; nil for host-gw, which writes none.
    public var vni: UInt32?
    public var vtepMAC: [UInt8]?
    /// A dual-stack node's IPv6 underlay address, and its IPv6 vxlan device's MAC (BackendV6Data).
    public var publicIPv6: IPAddress?
    public var ipv6VtepMAC: [UInt8]?

    public init(
        publicIP: IPAddress, backendType: String, vni: UInt32? = nil, vtepMAC: [UInt8]? = nil,
        publicIPv6: IPAddress? = nil, ipv6VtepMAC: [UInt8]? = nil
    ) {
        self.publicIP = publicIP; self.backendType = backendType; self.vni = vni; self.vtepMAC = vtepMAC
        self.publicIPv6 = publicIPv6; self.ipv6VtepMAC = ipv6VtepMAC
    }

    /// The bytes flanneld writes: Go's json.Marshal keeps the struct's field order, writes a nil
    /// PublicIPv6 pointer as null and omits empty BackendData and BackendV6Data.
    public func json() throws(AgentError) -> String {
        var members: [(key: String, value: any Encodable)] = [("PublicIP", "\(publicIP)"), ("PublicIPv6", publicIPv6.map { "\($0)" })]
        if !backendType.isEmpty { members.append(("BackendType", backendType)) }
        if let vni, let vtepMAC {
            members.append(("BackendData", VxlanBackendAnnotation(VNI: vni, VtepMAC: MAC.text(vtepMAC))))
        }
        if let vni, let ipv6VtepMAC {
            members.append(("BackendV6Data", VxlanBackendAnnotation(VNI: vni, VtepMAC: MAC.text(ipv6VtepMAC))))
        }
        return try GoOrderedJSON.object(members)
    }

    /// Reads a lease value written by weftd or any flanneld version (keys in any case, as Go does).
    /// A MAC that is not one leaves the device unknown (its routes wait), as before; a field of the
    /// wrong type refuses the value.
    public static func parse(_ text: String) throws -> LeaseAttributes {
        let value = try DecodedJSON.decode(LeaseDocument.self, from: text, "lease value") { AgentError(.engine, $0) }
        guard let ipText = value.publicIP, let publicIP = IPAddress(ipText), publicIP.isIPv4 else {
            throw AgentError(.engine, "lease value has no IPv4 PublicIP")
        }
        let publicIPv6 = value.publicIPv6.flatMap(IPAddress.init).flatMap { $0.family == .v6 ? $0 : nil }
        return LeaseAttributes(
            publicIP: publicIP, backendType: value.backendType ?? "",
            vni: value.backendData?.vni, vtepMAC: value.backendData?.vtepMAC.flatMap(MAC.parse),
            publicIPv6: publicIPv6, ipv6VtepMAC: value.backendV6Data?.vtepMAC.flatMap(MAC.parse))
    }
}

/// MAC addresses in the colon form Go's net.HardwareAddr writes.
