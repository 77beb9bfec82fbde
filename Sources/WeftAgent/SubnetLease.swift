import Foundation
import WeftAddress

/// A node's lease as flannel stores it: the key `<prefix>/subnets/<a.b.c.d>-<len>` and the JSON of
/// flannel's LeaseAttrs as value.
public struct SubnetLease: Equatable, Sendable {
    public let subnet: IPNetwork
    public var attributes: LeaseAttributes

    public init(subnet: IPNetwork, attributes: LeaseAttributes) {
        self.subnet = subnet.canonical
        self.attributes = attributes
    }

    /// The key's last part: "10.244.3.0-24" (flannel's MakeSubnetKey for an IPv4-only lease).
    public static func keyName(_ subnet: IPNetwork) -> String {
        "\(subnet.networkAddress)-\(subnet.prefixLength)"
    }

    /// The subnet a key names; a dual-stack key ("10.244.3.0-24&fd00:0:0:3::-64") yields its IPv4 part.
    public static func subnet(fromKey key: String) -> IPNetwork? {
        guard let name = key.split(separator: "/").last else { return nil }
        let ipv4 = name.split(separator: "&", maxSplits: 1).first ?? name
        let parts = ipv4.split(separator: "-")
        guard parts.count == 2, let address = IPAddress(String(parts[0])), address.isIPv4,
              let length = Int(parts[1]), let subnet = IPNetwork(address: address, prefixLength: length),
              !subnet.hasHostBitsSet
        else { return nil }
        return subnet
    }

    /// The node's VTEP address: the subnet's network address, as flannel gives its flannel.N device
    /// (10.244.3.0/32), so routes between mixed weftd and flanneld nodes name the same gateway.
    public var vtepAddress: IPAddress { subnet.networkAddress }
}

/// flannel's LeaseAttrs: PublicIP, PublicIPv6, BackendType, BackendData (vxlan: VNI and VtepMAC).
public struct LeaseAttributes: Equatable, Sendable {
    public var publicIP: IPAddress
    public var backendType: String
    /// vxlan's BackendData; nil for host-gw, which writes none.
    public var vni: UInt32?
    public var vtepMAC: [UInt8]?

    public init(publicIP: IPAddress, backendType: String, vni: UInt32? = nil, vtepMAC: [UInt8]? = nil) {
        self.publicIP = publicIP; self.backendType = backendType; self.vni = vni; self.vtepMAC = vtepMAC
    }

    /// The bytes flanneld writes: Go's json.Marshal keeps the struct's field order, writes the nil
    /// PublicIPv6 pointer as null and omits empty BackendData.
    public var json: String {
        var text = #"{"PublicIP":"\#(publicIP)","PublicIPv6":null"#
        if !backendType.isEmpty { text += #","BackendType":"\#(backendType)""# }
        if let vni, let vtepMAC {
            text += #","BackendData":{"VNI":\#(vni),"VtepMAC":"\#(MACText.text(vtepMAC))"}"#
        }
        return text + "}"
    }

    /// Reads a lease value written by weftd or any flanneld version (keys in any case, as Go does).
    public static func parse(_ text: String) throws -> LeaseAttributes {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw AgentError(.engine, "lease value is not a JSON object")
        }
        let attributes = CaseInsensitive(object)
        guard let ipText = attributes.string("PublicIP"), let publicIP = IPAddress(ipText), publicIP.isIPv4 else {
            throw AgentError(.engine, "lease value has no IPv4 PublicIP")
        }
        let data = attributes.object("BackendData")
        let vni = data?.int("VNI").flatMap { UInt32(exactly: $0) }
        let mac = data?.string("VtepMAC").flatMap(MACText.parse)
        return LeaseAttributes(publicIP: publicIP, backendType: attributes.string("BackendType") ?? "",
                               vni: vni, vtepMAC: mac)
    }
}

/// MAC addresses in the colon form Go's net.HardwareAddr writes.
public enum MACText {
    public static func text(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        return bytes.count == 6 ? bytes : nil
    }
}
