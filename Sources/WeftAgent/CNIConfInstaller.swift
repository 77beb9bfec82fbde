import Foundation
import WeftCNI
import WeftSystem

/// weftd's copy of the network's conflist into the CNI conf dir (`--cni-conf-source`,
/// `--cni-conf-dest`). containerd and CRI-O report the network ready (and kubelet turns the node
/// Ready) as soon as a config file is in /etc/cni/net.d, so this copy is the node's "ready" switch:
/// NodeReadiness makes it only once the subnet, the fabric and (with --network-policy) the policy
/// sync are in place.
///
/// With `volatile` (`--cni-conf-volatile /run/weft/10-weft.conflist`) the conflist itself is written
/// there, on the tmpfs a reboot empties, and the destination is a symlink to it. /etc/cni/net.d is on
/// disk and outlives a reboot; subnet.env (in /run) does not. A plain file there would let the
/// runtime report the network ready the moment it starts after a reboot, before weftd has written
/// subnet.env again, and every pod ADD would fail until then (kubelet backs off between retries).
/// With the link dangling, libcni cannot read the config, containerd reports the network not ready
/// (go-cni stops at a file it cannot load; CRI-O's ocicni skips it and takes the next file, so there
/// the conf dir must hold no other network), and kubelet starts no pod sandbox until weftd writes the
/// file again. The link must resolve to the
/// same file for the runtime as for weftd: the directory is mounted at the same path in weftd's
/// container as on the host.
public struct CNIConfInstaller: Sendable {
    public let source: String
    public let destination: String
    public let volatile: String?
    /// libcni reads at most this much of a config file in practice; a source past it is a mistake (the
    /// ConfigMap's conflist is a few hundred bytes), refused rather than copied.
    static let maxBytes = 1 << 20

    public init(source: String, destination: String, volatile: String? = nil) {
        self.source = source
        self.destination = destination
        self.volatile = volatile
    }

    /// Copies the source to the destination (or to `volatile`, the destination then linked to it) when
    /// their bytes differ; true when it wrote. The source must
    /// be one JSON object (a conflist or a single config): a broken file in the conf dir would make the
    /// runtime skip the network or report it not ready, so it is refused and the old file left as is.
    /// The write is DurableFile's (temp file in the same directory, fsync, rename, fsync of the
    /// directory): the runtime, which re-reads the directory on every change, never sees a half-written
    /// conflist, and a power loss never leaves an empty one. The temp file's name, `.tmp-` and random
    /// letters, has an extension libcni's ConfFiles does not load (it takes .conf, .conflist and .json only).
    @discardableResult
    public func install() throws -> Bool {
        guard let data = FileManager.default.contents(atPath: source) else {
            throw AgentError(.file, "cannot read the CNI config \(source) (--cni-conf-source)")
        }
        guard data.count <= Self.maxBytes else {
            throw AgentError(.invalidConfig, "the CNI config \(source) is \(data.count) bytes: more than \(Self.maxBytes)")
        }
        guard let text = String(data: data, encoding: .utf8), (try? JSONDecoder().decode(AnyJSONObject.self, from: data)) != nil else {
            throw AgentError(.invalidConfig, "the CNI config \(source) is not a JSON object: not installed")
        }
        guard let volatile else {
            if FileManager.default.contents(atPath: destination) == data { return false }
            try write(text, to: destination)
            return true
        }
        let fileWritten = FileManager.default.contents(atPath: volatile) != data
        if fileWritten { try write(text, to: volatile) }
        // The link is replaced whenever the file was written, even if it already pointed there: the
        // runtime watches the conf dir (inotify), not the link's target, and reloads on the rename.
        guard fileWritten || linkTarget() != volatile else { return false }
        try replaceLink()
        return true
    }

    /// Where the destination points, or nil when it is not a symlink (absent, or a plain file an
    /// earlier weftd wrote).
    func linkTarget() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(destination, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A new link under a temporary name (an extension libcni does not load), renamed over the
    /// destination: the runtime sees the old entry or the new one, never none.
    func replaceLink() throws {
        guard let volatile else { return }
        try AgentError.writingFile { try DurableFile.replaceWithSymlink(destination, to: volatile, directoryMode: 0o755) }
    }

    /// The conflist is world-readable (0644): the runtime reads it, as any user may `crictl info`.
    private func write(_ text: String, to path: String) throws {
        try AgentError.writingFile { try DurableFile.replace(path, with: text, mode: 0o644, directoryMode: 0o755) }
    }
}

/// Any JSON object, its members unread: decoding succeeds for an object and fails for anything else.
struct AnyJSONObject: Decodable {
    init(from decoder: Decoder) throws {
        _ = try decoder.container(keyedBy: AnyCodingKey.self)
    }
}
