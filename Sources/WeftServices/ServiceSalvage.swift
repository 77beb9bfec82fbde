import Foundation
import WeftAddress

/// A Service that cannot be decoded (a field of the wrong type), and what can still be read of it: its
/// ClusterIPs and the ports with a number and a known protocol, planned with no endpoints so they reject.
public struct UnreadableService: Sendable, Equatable {
    public var key: String
    public var reason: String
    public var plans: [ServicePortPlan]

    public init(key: String, reason: String, plans: [ServicePortPlan]) {
        self.key = key; self.reason = reason; self.plans = plans
    }

    /// Salvaged from the informer's object (JSONSerialization's types), leniently: each value taken only
    /// when it has the right type.
    public init(object: [String: Any], reason: String) {
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let namespace = metadata["namespace"] as? String ?? "default"
        let name = metadata["name"] as? String ?? "(no name)"
        key = "\(namespace)/\(name)"
        self.reason = reason
        let spec = object["spec"] as? [String: Any] ?? [:]
        var plans: [ServicePortPlan] = []
        guard spec["type"] as? String != "ExternalName" else {
            self.plans = []
            return
        }
        let texts = (spec["clusterIPs"] as? [Any])?.compactMap { $0 as? String } ?? (spec["clusterIP"] as? String).map { [$0] } ?? []
        var clusterIPs: [IPAddress] = []
        for address in texts.compactMap(IPAddress.init) where !clusterIPs.contains(where: { $0.family == address.family }) {
            clusterIPs.append(address)
        }
        for case let port as [String: Any] in spec["ports"] as? [Any] ?? [] {
            guard let number = (port["port"] as? NSNumber).map(\.intValue).flatMap(ServiceFrontends.port),
                let transport = TransportProtocol(kubernetesName: port["protocol"] as? String ?? "TCP")
            else { continue }
            for clusterIP in clusterIPs {
                plans.append(
                    ServicePortPlan(
                        namespace: namespace, name: name, portName: port["name"] as? String ?? "", transport: transport, family: clusterIP.family,
                        clusterIP: clusterIP, port: number))
            }
        }
        self.plans = plans
    }
}
