import FoundationEssentials

/// What travels on weftd's policy socket: one JSON object a line each way, one request per connection.
/// - `attach`: the plugin's ADD, after the pod's addresses are reserved and before its interface exists:
///   "install namespace/name's verdicts for these addresses". weftd answers once they are in the kernel.
/// - `release`: the plugin's DEL: the sandbox's addresses no longer belong to the pod.
/// - `explain`: `weftctl policy ls`: what applies, in words (one pod, or every pod of the node).
public struct PolicyRequest: Codable, Equatable, Sendable {
    public enum Operation: String, Codable, Sendable { case attach, release, explain }

    public var op: Operation
    public var namespace: String?
    public var name: String?
    public var addresses: [String]?
    /// The sandbox (CNI_CONTAINERID) the addresses belong to: a claim is its sandbox's, so a retried or
    /// stale ADD or DEL of another sandbox of the same pod never takes it over or away.
    public var sandbox: String?
    /// The pod's UID (K8S_POD_UID, when the runtime sends it): a pod created again under its name is another.
    public var uid: String?

    public init(
        op: Operation, namespace: String? = nil, name: String? = nil, addresses: [String]? = nil,
        sandbox: String? = nil, uid: String? = nil
    ) {
        self.op = op; self.namespace = namespace; self.name = name; self.addresses = addresses
        self.sandbox = sandbox; self.uid = uid
    }
}

extension PolicyRequest {
    /// One request line as the socket reads it (at most 64 KiB), or nil when it is not one: the parser
    /// the fuzzer drives.
    public static func parse(_ line: Data) -> PolicyRequest? {
        guard line.count <= 1 << 16 else { return nil }
        return try? JSONDecoder().decode(PolicyRequest.self, from: line)
    }
}

public struct PolicyReply: Codable, Equatable, Sendable {
    /// The request was carried out (for attach: the verdicts are in the kernel).
    public var ok: Bool
    /// Why not, in words.
    public var error: String?
    /// weftd has not finished its first list of policies, pods and namespaces: it cannot tell yet.
    public var notSynced: Bool?
    /// explain's answer.
    public var text: String?

    public init(ok: Bool, error: String? = nil, notSynced: Bool? = nil, text: String? = nil) {
        self.ok = ok; self.error = error; self.notSynced = notSynced; self.text = text
    }

    public static func failure(_ message: String, notSynced: Bool = false) -> PolicyReply {
        PolicyReply(ok: false, error: message, notSynced: notSynced ? true : nil)
    }
}

public enum PolicySocket {
    /// Where weftd listens unless told otherwise; the directory is root's, the socket 0600.
    public static let defaultPath = "/run/weft/policy.sock"

    /// One line of JSON. Throws what JSONEncoder throws: an empty object in its place would be a
    /// request weftd refuses, or a reply the plugin cannot tell from a broken weftd.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }
}
