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
        try replace(path) { temporary in
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            guard fd >= 0 else { throw AgentError(.file, SystemError.last("open", temporary).description) }
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            // fsync before rename: after a crash the name never points at an empty file.
            let synced = fsync(fd)
            close(fd)
            guard written == bytes.count, synced == 0 else { throw AgentError(.file, "cannot write \(temporary)") }
        }
    }

    public func write(to path: String) throws { try Self.writeAtomically(text, to: path) }

    /// Replaces `path` atomically by what `make` creates at a temporary name beside it (same
    /// directory, so rename(2) stays within one filesystem; an extension, `.tmp.<pid>.<random>`,
    /// libcni's ConfFiles does not load), creating the directory if needed. The name is unique per
    /// call, not per process: weftd is PID 1 in every container, and two of them (a replacement
    /// starting while the old one stops, one run by hand) must not share it. Whatever `make` left is
    /// removed when it or the rename fails.
    static func replace(_ path: String, make: (String) throws -> Void) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.file, "cannot create \(directory): \(error)")
        }
        let temporary = "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        do {
            try make(temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = SystemError.last("rename", "\(temporary) to \(path)")
            unlink(temporary)
            throw AgentError(.file, failure.description)
        }
    }
}
