import Foundation
import WeftAddress
import WeftSystem

/// The subnet.env flanneld writes and the `weft` plugin (and flannel's) reads.
public struct SubnetFile: Equatable, Sendable {
    public let network: IPNetwork
    public let subnet: IPNetwork
    public let mtu: Int
    /// FLANNEL_IPMASQ=true tells the plugin that the agent masquerades; weftd never does, so the
    /// plugin keeps its own ipMasq rules (which leave the cluster network unmasqueraded).
    public let ipMasq: Bool
    /// A dual-stack network's IPv6 network and this node's IPv6 subnet.
    public let ipv6: (network: IPNetwork, subnet: IPNetwork)?

    public init(network: IPNetwork, subnet: IPNetwork, mtu: Int, ipMasq: Bool = false, ipv6: (network: IPNetwork, subnet: IPNetwork)? = nil) {
        self.network = network; self.subnet = subnet; self.mtu = mtu; self.ipMasq = ipMasq; self.ipv6 = ipv6
    }

    public static func == (lhs: SubnetFile, rhs: SubnetFile) -> Bool { lhs.text == rhs.text }

    /// FLANNEL_SUBNET names the node's gateway: the subnet's first host address (10.244.3.1/24), and
    /// FLANNEL_IPV6_SUBNET likewise (fd00:0:0:3::1/64), in flannel's order.
    public var text: String {
        func gateway(_ subnet: IPNetwork) -> String {
            "\(subnet.networkAddress.advanced(by: 1) ?? subnet.networkAddress)/\(subnet.prefixLength)"
        }
        var lines = ["FLANNEL_NETWORK=\(network.canonical)", "FLANNEL_SUBNET=\(gateway(subnet))"]
        if let ipv6 { lines += ["FLANNEL_IPV6_NETWORK=\(ipv6.network.canonical)", "FLANNEL_IPV6_SUBNET=\(gateway(ipv6.subnet))"] }
        lines += ["FLANNEL_MTU=\(mtu)", "FLANNEL_IPMASQ=\(ipMasq)"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `text` to `path` atomically: a reader (the plugin, at any moment) sees the old file or
    /// the new one, never a half-written one. The temp file is in the same directory so rename(2)
    /// stays within one filesystem.
    public static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.file, "cannot create \(directory): \(error)")
        }
        // Unique per write, not per process: weftd is PID 1 in every container, and two of them (a
        // replacement starting while the old one stops, one run by hand) must not share a temp file.
        let temporary = Self.temporaryName(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AgentError(.file, SystemError.last("open", temporary).description) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        // fsync before rename: after a crash the name never points at an empty file.
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(temporary)
            throw AgentError(.file, "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let failure = SystemError.last("rename", "\(temporary) to \(path)")
            unlink(temporary)
            throw AgentError(.file, failure.description)
        }
    }

    public func write(to path: String) throws { try Self.writeAtomically(text, to: path) }

    /// A name beside `path` for a file or link to rename over it: `.tmp.<pid>.<random>`, an extension
    /// libcni's ConfFiles does not load.
    static func temporaryName(for path: String) -> String {
        "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
    }
}
