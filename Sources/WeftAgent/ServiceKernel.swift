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
}

extension ServiceTable: ServiceKernel {
    public func write(_ image: NftTableImage, plans: [ServicePortPlan]) throws -> Int { try write(image) }
}
