import WeftAddress
import WeftNetlink
import WeftNftables
import WeftServices

/// What ServiceAgent asks of the kernel: ServiceTable in weftd; tests give one that records. Called on
/// the KernelQueue only (the agent runs there), so an implementation needs no lock of its own.
public protocol ServiceKernel: AnyObject {
    /// Makes the table what `state` holds, `change` being what changed since the last write (a recording
    /// kernel keeps `state.plans`, the table writes the change); returns the netlink messages sent.
    func write(_ change: ServiceImageState.Change, state: ServiceImageState) throws -> Int
    /// Deletes conntrack's entries of `flows`; returns how many.
    func deleteStale(_ flows: [StaleFlow]) throws -> Int
    /// Conntrack's UDP entries as (original destination, reply source), both families.
    func udpFlows() throws -> [StaleFlow]
    /// What the table found before the first write served (a previous weftd's Services); nil before it.
    var inherited: [ServiceListing]? { get }
    /// Why the last write fell back to a costlier one (the whole table, or a replacement), once; nil if it did not.
    func takeFallback() -> String?
}

extension ServiceTable: ServiceKernel {
    public func write(_ change: ServiceImageState.Change, state: ServiceImageState) throws -> Int {
        try write(before: change.before, after: change.after, whole: state.image)
    }

    public func udpFlows() throws -> [StaleFlow] {
        let conntrack = Conntrack(handle: handle)
        return try [IPAddress.Family.v4, .v6].flatMap { try conntrack.entries(family: $0) }
            .filter { $0.proto == TransportProtocol.udp.rawValue }
            .map { StaleFlow(frontend: $0.originalDestination, port: $0.originalDestinationPort, endpoint: $0.replySource) }
    }
}
