import Foundation
import WeftAddress
import WeftServices

/// A Service whose load balancer asks this node's health check port, in one address family.
public struct HealthCheckService: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    public var family: IPAddress.Family

    public init(namespace: String, name: String, family: IPAddress.Family) {
        self.namespace = namespace; self.name = name; self.family = family
    }

    public var description: String { "\(namespace)/\(name) (\(family == .v4 ? "IPv4" : "IPv6"))" }
}

/// One listening socket: a Service's healthCheckNodePort on one of the node's addresses.
public struct HealthCheckListen: Hashable, Sendable, CustomStringConvertible {
    public var service: HealthCheckService
    public var port: UInt16
    public var address: IPAddress

    public init(service: HealthCheckService, port: UInt16, address: IPAddress) {
        self.service = service; self.port = port; self.address = address
    }

    public var description: String { "\(service) on \(address.isIPv4 ? "\(address)" : "[\(address)]"):\(port)" }
}

/// What the health check servers serve after one write of the Services table: the sockets to hold and
/// each Service's count of local ready endpoints. Pure.
///
/// As kube-proxy's: only a Service with a healthCheckNodePort (a LoadBalancer Service with
/// `externalTrafficPolicy: Local`, ServicePlanner decides) has one; its count is the number of distinct
/// addresses among its ready endpoints on this node over all its ports (a pod serving two ports is one
/// endpoint). kube-proxy runs one proxier per address family, each counting its family's endpoints on
/// its family's node addresses; here a socket on an address of one family answers with that family's
/// count, so a dual-stack pod is one endpoint on either. The node's addresses are the NodePort ones
/// (ServiceNode.nodePortAddresses), never loopback: the port is for the load balancer, and a
/// 127.0.0.1 listener is reachable from pods on a node with route_localnet (CVE-2020-8558's class).
public struct ServiceHealthCheckPlan: Equatable, Sendable {
    public var listens: Set<HealthCheckListen> = []
    public var localEndpoints: [HealthCheckService: Int] = [:]

    public init() {}

    public init(plans: [ServicePortPlan], nodeAddresses: [IPAddress]) {
        var ports: [HealthCheckService: UInt16] = [:]
        var local: [HealthCheckService: Set<IPAddress>] = [:]
        for plan in plans {
            let service = HealthCheckService(namespace: plan.namespace, name: plan.name, family: plan.family)
            local[service, default: []].formUnion(plan.endpoints.filter(\.isLocal).map(\.address))
            if let port = plan.healthCheckNodePort { ports[service] = port }
        }
        let addresses = nodeAddresses.filter { !$0.isLoopback }
        for (service, port) in ports {
            localEndpoints[service] = local[service]?.count ?? 0
            for address in addresses where address.family == service.family {
                listens.insert(HealthCheckListen(service: service, port: port, address: address))
            }
        }
    }
}

/// The answer to any request on a health check port, as kube-proxy's (pkg/proxy/healthcheck,
/// service_health.go): 200 when the Service has a local ready endpoint and the Services table is
/// written, else 503 (the load balancer leaves this node out); a JSON body naming the Service, its count
/// and the proxy's health; `X-Load-Balancing-Endpoint-Weight` is the count, for load balancers that
/// weigh nodes by it.
public struct HealthCheckAnswer: Equatable, Sendable {
    public var ok: Bool
    public var headers: [(String, String)]
    public var body: String

    public init(namespace: String, name: String, localEndpoints: Int, proxyHealthy: Bool) {
        ok = localEndpoints > 0 && proxyHealthy
        headers = [
            ("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"),
            ("X-Load-Balancing-Endpoint-Weight", String(localEndpoints)),
        ]
        // kube-proxy's layout exactly: tab-indented, no newline at the end.
        body = """
            {
            \t"service": {
            \t\t"namespace": \(Self.quoted(namespace)),
            \t\t"name": \(Self.quoted(name))
            \t},
            \t"localEndpoints": \(localEndpoints),
            \t"serviceProxyHealthy": \(proxyHealthy)
            }
            """
    }

    public static func == (lhs: HealthCheckAnswer, rhs: HealthCheckAnswer) -> Bool {
        lhs.ok == rhs.ok && lhs.body == rhs.body && lhs.headers.map { "\($0.0): \($0.1)" } == rhs.headers.map { "\($0.0): \($0.1)" }
    }

    /// A JSON string: names are DNS labels, but the API's text is not trusted to be.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case let control where control.value < 0x20: out += String(format: "\\u%04x", control.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
