import WeftAddress
import WeftNetlink
import WeftNftables
import WeftServices

/// What ServiceAgent asks of the kernel: ServiceTable in weftd; tests give one that records. Called on
/// the KernelQueue only (the agent runs there), so an implementation needs no lock of its own.
public protocol ServiceKernel: AnyObject {
    /// Makes the table `image`, compiled from `plans` (which a recording kernel keeps, the table need
    /// not); returns the netlink messages sent.
    func write(_ image: NftTableImage, plans: [ServicePortPlan]) throws -> Int
    /// Deletes conntrack's entries of `flows`; returns how many.
    func deleteStale(_ flows: [StaleFlow]) throws -> Int
    /// Conntrack's UDP entries as (original destination, reply source), both families.
    func udpFlows() throws -> [StaleFlow]
}

extension ServiceTable: ServiceKernel {
    public func write(_ image: NftTableImage, plans: [ServicePortPlan]) throws -> Int { try write(image) }

    public func udpFlows() throws -> [StaleFlow] {
        let conntrack = Conntrack(handle: handle)
        return try [IPAddress.Family.v4, .v6].flatMap { try conntrack.entries(family: $0) }
            .filter { $0.proto == TransportProtocol.udp.rawValue }
            .map { StaleFlow(frontend: $0.originalDestination, port: $0.originalDestinationPort, endpoint: $0.replySource) }
    }
}
