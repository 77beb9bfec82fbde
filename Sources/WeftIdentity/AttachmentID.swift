/// One attachment of a pod to a network: `(network, containerID, ifname)`, the identity the CNI
/// contract gives every command. Everything Weft makes for it is named from this value alone (store
/// record, host veth, link alias, nft element comment, messages), so DEL, CHECK and GC find what ADD
/// made with no cache, and every encoding fits its kernel or file-system limit whatever the input's
/// length (container IDs and network names are validated up to 253 bytes).
public struct AttachmentID: Hashable, Sendable, CustomStringConvertible {
    public let network: String
    public let containerID: String
    public let ifname: String

    public init(network: String, containerID: String, ifname: String) {
        self.network = network
        self.containerID = containerID
        self.ifname = ifname
    }

    /// A name kept readable up to this many bytes; longer ones become a prefix, `~` and a hash.
    /// Kubernetes container IDs (64 hex digits) stay readable.
    public static let readableLength = 64

    /// `text` when it fits `readableLength`, else its first bytes, `~` and 16 hex digits of FNV-1a over
    /// all of it. `~` never appears in a valid name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), so a shortened key
    /// can never equal a readable one.
    static func key(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > readableLength else { return text }
        let hash = FNV1a.hex64(bytes)
        let prefix = bytes.prefix(readableLength - 1 - hash.count)
        return String(decoding: prefix, as: UTF8.self) + "~" + hash
    }

    /// The network as it appears in aliases and comments (at most 64 bytes).
    public var networkKey: String { Self.key(network) }
    /// The container ID as it appears in file names, aliases and comments (at most 64 bytes).
    public var containerKey: String { Self.key(containerID) }

    /// The store's record name, `<containerKey>:<ifname>`: at most 80 bytes, within NAME_MAX (255).
    /// Container IDs never contain ':' and interface names may not, so it parses back unambiguously.
    public var recordName: String { "\(containerKey):\(ifname)" }

    /// The key part of a record name, for listing a store: (containerKey, ifname).
    public static func parseRecordName(_ name: String) -> (containerKey: String, ifname: String)? {
        guard !name.hasPrefix("."), let colon = name.firstIndex(of: ":") else { return nil }
        return (String(name[..<colon]), String(name[name.index(after: colon)...]))
    }

    /// The host end of the pod's veth: "veth" and 8 hex digits of FNV-1a over the whole identity,
    /// within the kernel's 15 bytes (IFNAMSIZ − 1). A collision is refused at create (EEXIST), never reused.
    public var hostVethName: String { "veth" + nameHash }

    /// The IFB that shapes the pod's egress: "ifb" and the host veth's 8 hex digits.
    public var ifbName: String { "ifb" + nameHash }

    private var nameHash: String {
        let hash = FNV1a.hash(Array(network.utf8) + [0] + Array(containerID.utf8) + [0] + Array(ifname.utf8))
        return FNV1a.hex(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)))
    }

    /// The tag carried by each nft element of the attachment: `weft/<networkKey>/<containerKey>/<ifname>`,
    /// at most 150 bytes, within the 200 bytes Weft stores of a comment (the kernel's limit is 256).
    public var elementTag: String { "weft/\(networkKey)/\(containerKey)/\(ifname)" }

    /// The prefix every element tag of `network` starts with.
    public static func elementTagPrefix(network: String) -> String { "weft/\(key(network))/" }

    /// "container X interface Y (network Z)" from an element tag, for messages naming a holder.
    public static func describeElementTag(_ tag: String) -> String {
        let parts = tag.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "weft" ? "container \(parts[2]) interface \(parts[3]) (network \(parts[1]))" : tag
    }

    public var description: String { "container \(containerKey) interface \(ifname)" }
}

/// FNV-1a, 64 bits: the one hash Weft derives names and fingerprints with. Stable across versions
/// and processes (Swift's Hasher is seeded per process).
public struct FNV1a {
    public private(set) var value: UInt64 = 0xcbf29ce484222325

    public init() {}

    public mutating func add(_ byte: UInt8) {
        value ^= UInt64(byte)
        value = value &* 0x100000001b3
    }

    public mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for byte in bytes { add(byte) }
    }

    public static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var hasher = FNV1a()
        hasher.add(bytes)
        return hasher.value
    }

    /// 16 lowercase hex digits.
    public static func hex64<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let hash = self.hash(bytes)
        return hex(UInt32(truncatingIfNeeded: hash >> 32)) + hex(UInt32(truncatingIfNeeded: hash))
    }

    /// 8 lowercase hex digits, zero-padded.
    public static func hex(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 8 - text.count) + text
    }
}

extension AttachmentID {
    /// The host veth's alias: "weft <networkKey> <containerKey> <ifname> <address>,…" (at most 206
    /// bytes with one address of each family, within IFALIASZ − 1 = 255). It outlives a wiped store,
    /// so the store is rebuilt from the node's links before any address is handed out again.
    public func alias(addresses: [String]) -> String {
        "weft \(networkKey) \(containerKey) \(ifname) \(addresses.joined(separator: ","))"
    }

    /// The attachment and addresses an alias names, when it is one of `network`'s. The container ID is
    /// its key: the full ID of a shortened one lives only in the store's record.
    public static func parseAlias(_ alias: String, network: String) -> (AttachmentID, [String])? {
        let fields = alias.split(separator: " ").map(String.init)
        guard fields.count == 5, fields[0] == "weft", fields[1] == key(network) else { return nil }
        let addresses = fields[4].split(separator: ",").map(String.init)
        guard !addresses.isEmpty else { return nil }
        return (AttachmentID(network: network, containerID: fields[2], ifname: fields[3]), addresses)
    }
}
