import WeftAddress
import WeftServices

/// The node's addresses NodePorts are served on: the Node object's status.addresses of type InternalIP
/// and ExternalIP (what kubelet reports and kube-proxy serves by default), never loopback or link-local.
enum ServiceNodeAddresses {
    static func fromNode(_ node: [String: Any]) -> [IPAddress] {
        let status = node["status"] as? [String: Any] ?? [:]
        var addresses: [IPAddress] = []
        for case let entry as [String: Any] in status["addresses"] as? [Any] ?? [] {
            guard let type = entry["type"] as? String, type == "InternalIP" || type == "ExternalIP",
                let text = entry["address"] as? String, let address = IPAddress(text)
            else { continue }
            if address.isLoopback || address.isIPv6LinkLocal || addresses.contains(address) { continue }
            addresses.append(address)
        }
        return addresses.sorted()
    }
}

extension IPAddress {
    /// 127.0.0.0/8 or ::1: never a NodePort frontend (CVE-2020-8558's class of exposure).
    var isLoopback: Bool { isIPv4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1] }
}
