import WeftAddress

/// Validates `runtimeConfig.portMappings` before anything changes; each value is checked, never pasted into a rule.
enum PortMappings {
    static func validate(_ entries: [PortMappingConfig], families: Set<IPAddress.Family>) throws -> [PortMapping] {
        var seen: Set<String> = []
        return try entries.enumerated().map { index, entry in
            let key = "runtimeConfig.portMappings[\(index)]"
            func port(_ value: Int, _ name: String) throws -> UInt16 {
                guard (1...65535).contains(value) else {
                    throw CNIError(.invalidConfig, "\(key).\(name) \(value) is not a port (1 to 65535)")
                }
                return UInt16(value)
            }
            let hostPort = try port(entry.hostPort, "hostPort")
            let containerPort = try port(entry.containerPort, "containerPort")
            let protocolText = entry.protocol_ ?? "tcp"
            guard let proto = TransportProtocol(name: protocolText.lowercased()) else {
                throw CNIError(.invalidConfig, "\(key).protocol \"\(Validation.printable(protocolText))\" is not tcp, udp or sctp")
            }
            var hostIP: IPAddress?
            if let text = entry.hostIP, !text.isEmpty {
                guard let address = IPAddress(text) else {
                    throw CNIError(.invalidConfig, "\(key).hostIP \"\(Validation.printable(text))\" is not an IP address")
                }
                guard families.contains(address.family) else {
                    throw CNIError(.invalidConfig, "\(key).hostIP \(text) is IPv\(address.isIPv4 ? 4 : 6), and the pod gets no address of that family")
                }
                hostIP = address
            }
            let mapping = PortMapping(proto: proto, hostPort: hostPort, containerPort: containerPort, hostIP: hostIP)
            let identity = "\(hostIP?.description ?? "*") \(hostPort)/\(proto.name)"
            guard seen.insert(identity).inserted else {
                throw CNIError(.invalidConfig, "\(key) repeats hostPort \(hostPort)/\(proto.name)")
            }
            return mapping
        }
    }
}
