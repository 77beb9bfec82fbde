import Foundation

/// weftd's copy of the network's conflist into the CNI conf dir (`--cni-conf-source`,
/// `--cni-conf-dest`). containerd and CRI-O report the network ready (and kubelet turns the node
/// Ready) as soon as a config file is in /etc/cni/net.d, so this copy is the node's "ready" switch:
/// NodeReadiness makes it only once the subnet, the fabric and (with --network-policy) the policy
/// sync are in place.
public struct CNIConfInstaller: Sendable {
    public let source: String
    public let destination: String
    /// libcni reads at most this much of a config file in practice; a source past it is a mistake (the
    /// ConfigMap's conflist is a few hundred bytes), refused rather than copied.
    static let maxBytes = 1 << 20

    public init(source: String, destination: String) {
        self.source = source
        self.destination = destination
    }

    /// Copies the source to the destination when their bytes differ; true when it wrote. The source must
    /// be one JSON object (a conflist or a single config): a broken file in the conf dir would make the
    /// runtime skip the network or report it not ready, so it is refused and the old file left as is.
    /// The write is atomic (temp file in the same directory, fsync, rename): the runtime, which
    /// re-reads the directory on every change, never sees a half-written conflist. The temp file's
    /// name ends in `.tmp.<pid>`, an extension libcni's ConfFiles does not load (it takes .conf,
    /// .conflist and .json only).
    @discardableResult
    public func install() throws -> Bool {
        guard let data = FileManager.default.contents(atPath: source) else {
            throw AgentError(.file, "cannot read the CNI config \(source) (--cni-conf-source)")
        }
        guard data.count <= Self.maxBytes else {
            throw AgentError(.invalidConfig, "the CNI config \(source) is \(data.count) bytes: more than \(Self.maxBytes)")
        }
        guard let text = String(data: data, encoding: .utf8),
              (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw AgentError(.invalidConfig, "the CNI config \(source) is not a JSON object: not installed")
        }
        if FileManager.default.contents(atPath: destination) == data { return false }
        try SubnetFile.writeAtomically(text, to: destination, mode: 0o644)
        return true
    }
}
