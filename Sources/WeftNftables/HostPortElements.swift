import WeftAddress

/// The map elements that carry one pod's hostPorts, and the owner tag that lets DEL find them again.
public enum HostPortElements {
    /// The comment stored on each element: network, container ID and ifname, which never contain '/'.
    public static func ownerTag(network: String, containerID: String, ifname: String) -> String {
        "weft/\(network)/\(containerID)/\(ifname)"
    }

    /// Elements for `mappings` to a pod holding `podAddresses`. A mapping without a hostIP (or with
    /// 0.0.0.0 / ::) applies to every family the pod has; one with a hostIP only to that family.
    public static func elements(for mappings: [PortMapping], podAddresses: [IPAddress], owner: String) -> [NftElement] {
        var elements: [NftElement] = []
        for mapping in mappings {
            for pod in podAddresses {
                let isV4 = pod.family == .v4
                let value = pod.bytes + portWord(mapping.containerPort)
                let protoPort = [mapping.proto.rawValue, 0, 0, 0] + portWord(mapping.hostPort)
                if let hostIP = mapping.hostIP, hostIP != .unspecified(hostIP.family) {
                    guard hostIP.family == pod.family else { continue }
                    elements.append(NftElement(map: isV4 ? "hostips4" : "hostips6", key: hostIP.bytes + protoPort, value: value, owner: owner))
                } else {
                    if let hostIP = mapping.hostIP, hostIP.family != pod.family { continue }
                    elements.append(NftElement(map: isV4 ? "hostports4" : "hostports6", key: protoPort, value: value, owner: owner))
                }
            }
        }
        return elements
    }

    /// A port in a 32-bit register: network byte order, then padding.
    static func portWord(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff), 0, 0] }

    /// The protocol an element's key names.
    public static func proto(of element: NftElement) -> PortMapping.Proto? {
        let offset = element.map.hasPrefix("hostips") ? (element.map.hasSuffix("4") ? 4 : 16) : 0
        return element.key.count > offset ? PortMapping.Proto(rawValue: element.key[offset]) : nil
    }

    /// Describes an element's key for messages: "8080/tcp" or "10.0.0.1:8080/tcp".
    public static func describeKey(_ element: NftElement) -> String {
        let key = element.key
        let specific = element.map.hasPrefix("hostips")
        let addressLength = element.map.hasSuffix("4") ? 4 : 16
        let protoOffset = specific ? addressLength : 0
        guard key.count >= protoOffset + 8 else { return "?" }
        let proto = PortMapping.Proto(rawValue: key[protoOffset])?.name ?? "\(key[protoOffset])"
        let port = UInt16(key[protoOffset + 4]) << 8 | UInt16(key[protoOffset + 5])
        let host = specific ? IPAddress(bytes: Array(key[0..<addressLength])).map { "\($0):" } ?? "" : ""
        return "\(host)\(port)/\(proto)"
    }

    /// Describes an element's value: "10.244.1.2:80" or "[fd00::2]:80".
    public static func describeValue(_ element: NftElement) -> String {
        let addressLength = element.map.hasSuffix("4") ? 4 : 16
        guard element.value.count >= addressLength + 2, let address = IPAddress(bytes: Array(element.value.prefix(addressLength))) else { return "?" }
        let port = UInt16(element.value[addressLength]) << 8 | UInt16(element.value[addressLength + 1])
        return address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
