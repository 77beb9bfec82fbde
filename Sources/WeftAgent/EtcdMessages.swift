import Foundation

/// etcd v3's JSON gateway (grpc-gateway over the KV, Lease and Watch services): request bodies and
/// the parts of replies weftd reads. Keys and values travel base64-encoded; int64 fields come back as
/// JSON strings and are accepted as strings or numbers.
public enum EtcdMessages {
    public struct KeyValue: Equatable, Sendable {
        public let key: String
        public let value: String
        public let modRevision: Int64
        public let lease: Int64
    }

    public enum Event: Equatable, Sendable {
        case put(KeyValue)
        case delete(key: String)
    }

    public static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The end of a prefix range: the prefix with its last byte incremented (etcd's WithPrefix).
    public static func rangeEnd(ofPrefix prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes).base64EncodedString()
            }
            bytes.removeLast()
        }
        // An all-0xff prefix ranges to the end of the keyspace, which etcd writes as "\0".
        return Data([0]).base64EncodedString()
    }

    public static func range(key: String, prefix: Bool) -> [String: Any] {
        var body: [String: Any] = ["key": base64(key)]
        if prefix { body["range_end"] = rangeEnd(ofPrefix: key) }
        return body
    }

    /// Puts `value` under `key` only if the key does not exist (version 0), as flanneld's createSubnet does.
    public static func createIfAbsent(key: String, value: String, lease: Int64) -> [String: Any] {
        [
            "compare": [["key": base64(key), "target": "VERSION", "result": "EQUAL", "version": "0"]],
            "success": [["request_put": ["key": base64(key), "value": base64(value), "lease": String(lease)]]],
        ]
    }

    /// Puts `value` under `key` only if nobody changed the key since `modRevision`: taking back a lease
    /// this node held never overwrites a lease another node took meanwhile.
    public static func replaceIfUnchanged(key: String, value: String, lease: Int64, modRevision: Int64) -> [String: Any] {
        [
            "compare": [["key": base64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(modRevision)]],
            "success": [["request_put": ["key": base64(key), "value": base64(value), "lease": String(lease)]]],
        ]
    }

    /// A watch of every key under `prefix` from `revision` on; progress_notify makes etcd send an
    /// empty reply now and then, so an idle stream still shows the connection is alive.
    public static func watch(prefix: String, fromRevision revision: Int64) -> [String: Any] {
        ["create_request": ["key": base64(prefix), "range_end": rangeEnd(ofPrefix: prefix),
                            "start_revision": String(revision), "progress_notify": true]]
    }

    // MARK: replies

    public static func int64(_ value: Any?) -> Int64? {
        if let text = value as? String { return Int64(text) }
        if let number = value as? NSNumber { return number.int64Value }
        return nil
    }

    static func decoded(_ value: Any?) -> String? {
        guard let text = value as? String, let data = Data(base64Encoded: text) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public static func keyValue(_ object: Any?) -> KeyValue? {
        guard let object = object as? [String: Any], let key = decoded(object["key"]) else { return nil }
        return KeyValue(key: key, value: decoded(object["value"]) ?? "",
                        modRevision: int64(object["mod_revision"]) ?? 0, lease: int64(object["lease"]) ?? 0)
    }

    /// A range reply's key-values and the store revision it was read at (where a watch resumes).
    public static func rangeReply(_ reply: [String: Any]) -> (kvs: [KeyValue], revision: Int64) {
        let kvs = (reply["kvs"] as? [Any] ?? []).compactMap(keyValue)
        let revision = int64((reply["header"] as? [String: Any])?["revision"]) ?? 0
        return (kvs, revision)
    }

    /// One line of a watch stream: its events and header revision, or the error etcd sent.
    public static func watchReply(_ line: [String: Any]) throws -> (events: [Event], revision: Int64, canceled: Bool) {
        if let error = line["error"] as? [String: Any] {
            throw AgentError(.engine, "etcd watch: \(error["message"] as? String ?? "\(error)")")
        }
        let result = line["result"] as? [String: Any] ?? [:]
        let revision = int64((result["header"] as? [String: Any])?["revision"]) ?? 0
        let events: [Event] = (result["events"] as? [Any] ?? []).compactMap { item in
            guard let event = item as? [String: Any], let kv = keyValue(event["kv"]) else { return nil }
            // PUT is the enum's zero value, which the gateway leaves out.
            return (event["type"] as? String) == "DELETE" ? .delete(key: kv.key) : .put(kv)
        }
        // A canceled watch sends nothing more, though the gateway keeps the connection open: etcd
        // cancels it on compaction (compact_revision, often without a reason) or on its own errors. Any
        // cancellation ends the stream, so the caller lists again instead of waiting forever.
        if (result["canceled"] as? Bool) == true || (int64(result["compact_revision"]) ?? 0) != 0 {
            let reason = (result["cancel_reason"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            let compacted = int64(result["compact_revision"]).map { "compacted at revision \($0)" }
            throw AgentError(.engine, "etcd canceled the watch: \(reason ?? compacted ?? "no reason given")")
        }
        return (events, revision, false)
    }
}
