import WeftAddress

/// Who holds an address: one attachment of one container.
public struct Owner: Hashable, Sendable, CustomStringConvertible {
    public let containerID: String
    public let ifname: String

    public init(containerID: String, ifname: String) {
        self.containerID = containerID
        self.ifname = ifname
    }

    /// Container IDs never contain ':' and interface names may not, so the key is unambiguous.
    public var fileName: String { "\(containerID):\(ifname)" }
    public var description: String { "container \(containerID) interface \(ifname)" }
}
