import WeftAddress
import WeftNftables

/// The four maps that carry hostPorts: per family, one keyed by (proto, port) for every node address
/// and one keyed by (hostIP, proto, port) for a mapping bound to one address.
public enum HostPortMap: String, CaseIterable, Sendable {
    case anyAddress4 = "hostports4", oneAddress4 = "hostips4", anyAddress6 = "hostports6", oneAddress6 = "hostips6"

    public init(family: IPAddress.Family, boundToHostIP: Bool) {
        switch (family, boundToHostIP) {
        case (.v4, false): self = .anyAddress4
        case (.v4, true): self = .oneAddress4
        case (.v6, false): self = .anyAddress6
        case (.v6, true): self = .oneAddress6
        }
    }

    public var family: IPAddress.Family { self == .anyAddress4 || self == .oneAddress4 ? .v4 : .v6 }
    public var isBoundToHostIP: Bool { self == .oneAddress4 || self == .oneAddress6 }
    var addressLength: Int { family.addressLength }
    /// Where (proto, port) starts in a key: after the hostIP when there is one.
    var protoOffset: Int { isBoundToHostIP ? addressLength : 0 }

    /// The map: [hostIP .] proto . port to pod address . port, every field padded to 32 bits.
    var set: NftSet {
        let address = NftDatatype.address(family), proto = NftDatatype.inetProto, service = NftDatatype.inetService
        return NftSet(
            name: rawValue, keyLength: UInt32(protoOffset + 8),
            keyType: isBoundToHostIP ? NftDatatype.concat(address, proto, service) : NftDatatype.concat(proto, service),
            data: .value(type: NftDatatype.concat(address, service), length: UInt32(addressLength + 4)))
    }
}

/// One hostPort: the element of `map` from its key to the pod's address and port, and the attachment
/// that owns it (the element's comment).
public struct HostPortElement: Equatable, Sendable {
    public let map: String
    public let key: [UInt8]
    public let value: [UInt8]
    public let owner: String

    public init(map: String, key: [UInt8], value: [UInt8], owner: String) {
        self.map = map; self.key = key; self.value = value; self.owner = owner
    }

    init(map: String, _ element: NftSetElement) {
        self.init(map: map, key: element.key, value: element.data, owner: element.comment)
    }

    var setElement: NftSetElement { NftSetElement(key: key, data: value, comment: owner) }
}

/// The map elements that carry one pod's hostPorts. Each element carries its attachment's tag
/// (AttachmentID.elementTag) so DEL and GC find it again without a netns or prevResult.
public enum HostPortElements {
    /// Elements for `mappings` to a pod holding `podAddresses`. A mapping without a hostIP (or with
    /// 0.0.0.0 / ::) applies to every family the pod has; one with a hostIP only to that family.
    public static func elements(for mappings: [PortMapping], podAddresses: [IPAddress], owner: String) -> [HostPortElement] {
        var elements: [HostPortElement] = []
        for mapping in mappings {
            for pod in podAddresses {
                let value = pod.bytes + portWord(mapping.containerPort)
                let protoPort = [mapping.proto.rawValue, 0, 0, 0] + portWord(mapping.hostPort)
                if let hostIP = mapping.hostIP, hostIP != .unspecified(hostIP.family) {
                    guard hostIP.family == pod.family else { continue }
                    let map = HostPortMap(family: pod.family, boundToHostIP: true)
                    elements.append(HostPortElement(map: map.rawValue, key: hostIP.bytes + protoPort, value: value, owner: owner))
                } else {
                    if let hostIP = mapping.hostIP, hostIP.family != pod.family { continue }
                    let map = HostPortMap(family: pod.family, boundToHostIP: false)
                    elements.append(HostPortElement(map: map.rawValue, key: protoPort, value: value, owner: owner))
                }
            }
        }
        return elements
    }

    /// A port in a 32-bit register: network byte order, then padding.
    static func portWord(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff), 0, 0] }

    /// The protocol an element's key names.
    public static func proto(of element: HostPortElement) -> TransportProtocol? {
        guard let map = HostPortMap(rawValue: element.map), element.key.count > map.protoOffset else { return nil }
        return TransportProtocol(rawValue: element.key[map.protoOffset])
    }

    /// The pod address an element's value names.
    public static func podAddress(of element: HostPortElement) -> IPAddress? {
        guard let map = HostPortMap(rawValue: element.map), element.value.count >= map.addressLength else { return nil }
        return IPAddress(bytes: Array(element.value.prefix(map.addressLength)))
    }

    /// Describes an element's key for messages: "8080/tcp" or "10.0.0.1:8080/tcp".
    public static func describeKey(_ element: HostPortElement) -> String {
        let key = element.key
        guard let map = HostPortMap(rawValue: element.map), key.count >= map.protoOffset + 8 else { return "?" }
        let offset = map.protoOffset
        let proto = TransportProtocol(rawValue: key[offset])?.name ?? "\(key[offset])"
        let port = UInt16(key[offset + 4]) << 8 | UInt16(key[offset + 5])
        let host = map.isBoundToHostIP ? IPAddress(bytes: Array(key[0..<map.addressLength])).map { "\($0):" } ?? "" : ""
        return "\(host)\(port)/\(proto)"
    }

    /// Describes an element's value: "10.244.1.2:80" or "[fd00::2]:80".
    public static func describeValue(_ element: HostPortElement) -> String {
        guard let map = HostPortMap(rawValue: element.map), element.value.count >= map.addressLength + 2,
            let address = podAddress(of: element)
        else { return "?" }
        let port = UInt16(element.value[map.addressLength]) << 8 | UInt16(element.value[map.addressLength + 1])
        return address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
