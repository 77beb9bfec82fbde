/// One hostPort: traffic to `hostPort` (on `hostIP`, or on every local address) goes to the pod's `containerPort`.
public struct PortMapping: Hashable, Sendable, CustomStringConvertible {
    public let proto: TransportProtocol
    public let hostPort: UInt16
    public let containerPort: UInt16
    /// nil: every local address of the families the pod has.
    public let hostIP: IPAddress?

    public init(proto: TransportProtocol, hostPort: UInt16, containerPort: UInt16, hostIP: IPAddress?) {
        self.proto = proto
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.hostIP = hostIP
    }

    public var description: String {
        let host = hostIP.map { $0.isIPv4 ? "\($0):" : "[\($0)]:" } ?? ""
        return "\(host)\(hostPort)/\(proto.name) -> \(containerPort)"
    }
}
