import WeftAddress

/// The Service's own addresses and numbers read as the API validates them; what is wrong is a problem
/// (ServicePlanning.problems) and is not served.
enum ServiceFrontends {
    /// `clusterIPs`, else `clusterIP`: none for "None" (headless) or no address yet; one per family.
    static func clusterIPs(_ spec: ServiceObject.Spec, key: String, problems: inout [String]) -> [IPAddress] {
        let texts = spec.clusterIPs.flatMap { $0.isEmpty ? nil : $0 } ?? spec.clusterIP.map { [$0] } ?? []
        if texts.isEmpty || texts.contains("None") || texts.allSatisfy(\.isEmpty) { return [] }
        var addresses: [IPAddress] = []
        for text in texts {
            guard let address = IPAddress(text) else {
                problems.append("Service \(key): spec.clusterIPs \(text) is not an address: not served")
                continue
            }
            if addresses.contains(where: { $0.family == address.family }) { continue }
            addresses.append(address)
        }
        return addresses
    }

    static func addresses(_ texts: [String], _ field: String, key: String, problems: inout [String]) -> [IPAddress] {
        var addresses: [IPAddress] = []
        for text in texts {
            guard let address = IPAddress(text) else {
                problems.append("Service \(key): \(field) \(text) is not an address: not served")
                continue
            }
            if !addresses.contains(address) { addresses.append(address) }
        }
        return addresses
    }

    /// The ranges that parse (spaces around them allowed, as kube-proxy trims them), and whether any did not.
    static func sourceRanges(_ texts: [String], key: String, problems: inout [String]) -> (valid: [IPNetwork], invalid: Bool) {
        var valid: [IPNetwork] = []
        var invalid = false
        for text in texts {
            let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
            guard let network = IPNetwork(trimmed) else {
                problems.append("Service \(key): spec.loadBalancerSourceRanges \(text) is not a network: its family's load-balancer addresses not served")
                invalid = true
                continue
            }
            valid.append(network.canonical)
        }
        return (valid, invalid)
    }

    static func port(_ value: Int) -> UInt16? {
        (1...65_535).contains(value) ? UInt16(value) : nil
    }
}
