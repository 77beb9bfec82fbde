import Foundation
import WeftJSON

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

    public static func range(key: String, prefix: Bool) -> EtcdWire.RangeRequest {
        EtcdWire.RangeRequest(key: base64(key), rangeEnd: prefix ? rangeEnd(ofPrefix: key) : nil)
    }

    /// Puts `value` under `key` only if the key does not exist (version 0), as flanneld's createSubnet does.
    public static func createIfAbsent(key: String, value: String, lease: Int64) -> EtcdWire.TransactionRequest {
        EtcdWire.TransactionRequest(
            compare: [.init(key: base64(key), target: "VERSION", result: "EQUAL", version: "0")],
            success: [put(key: key, value: value, lease: lease)])
    }

    /// Puts `value` under `key` only if nobody changed the key since `modRevision`: taking back a lease
    /// this node held never overwrites a lease another node took meanwhile.
    public static func replaceIfUnchanged(key: String, value: String, lease: Int64, modRevision: Int64) -> EtcdWire.TransactionRequest {
        EtcdWire.TransactionRequest(
            compare: [.init(key: base64(key), target: "MOD", result: "EQUAL", modRevision: String(modRevision))],
            success: [put(key: key, value: value, lease: lease)])
    }

    static func put(key: String, value: String, lease: Int64) -> EtcdWire.RequestOp {
        EtcdWire.RequestOp(requestPut: .init(key: base64(key), value: base64(value), lease: String(lease)))
    }

    /// A watch of every key under `prefix` from `revision` on; progress_notify makes etcd send an
    /// empty reply now and then, so an idle stream still shows the connection is alive.
    public static func watch(prefix: String, fromRevision revision: Int64) -> EtcdWire.WatchRequest {
        EtcdWire.WatchRequest(
            createRequest: .init(
                key: base64(prefix), rangeEnd: rangeEnd(ofPrefix: prefix),
                startRevision: String(revision), progressNotify: true))
    }

    // MARK: replies

    static func decoded(_ value: String?) -> String? {
        guard let value, let data = Data(base64Encoded: value) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A key-value of a reply; nil when its key is missing or not base64.
    public static func keyValue(_ kv: EtcdWire.KeyValue?) -> KeyValue? {
        guard let kv, let key = decoded(kv.key) else { return nil }
        return KeyValue(key: key, value: decoded(kv.value) ?? "", modRevision: kv.modRevision?.value ?? 0, lease: kv.lease?.value ?? 0)
    }

    /// A range reply's key-values and the store revision it was read at (where a watch resumes).
    public static func rangeReply(_ reply: EtcdWire.RangeResponse) -> (kvs: [KeyValue], revision: Int64) {
        ((reply.kvs ?? []).compactMap(keyValue), reply.header?.revision?.value ?? 0)
    }

    /// One line of a watch stream: its events and header revision, or the error etcd sent.
    public static func watchReply(_ line: Data) throws -> (events: [Event], revision: Int64, canceled: Bool) {
        try watchReply(try DecodedJSON.decode(EtcdWire.WatchLine.self, from: line, "etcd watch reply") { EtcdError(.engine, $0) })
    }

    public static func watchReply(_ line: EtcdWire.WatchLine) throws -> (events: [Event], revision: Int64, canceled: Bool) {
        if let error = line.error {
            throw EtcdError(.engine, "etcd watch: \(error.message ?? "error\(error.code.map { " \($0)" } ?? "")")")
        }
        let result = line.result
        let revision = result?.header?.revision?.value ?? 0
        let events: [Event] = (result?.events ?? []).compactMap { event in
            guard let kv = keyValue(event.kv) else { return nil }
            // PUT is the enum's zero value, which the gateway leaves out.
            return event.type == "DELETE" ? .delete(key: kv.key) : .put(kv)
        }
        // A canceled watch sends nothing more, though the gateway keeps the connection open: etcd
        // cancels it on compaction (compact_revision, often without a reason) or on its own errors. Any
        // cancellation ends the stream, so the caller lists again instead of waiting forever.
        let compactRevision = result?.compactRevision?.value ?? 0
        if result?.canceled == true || compactRevision != 0 {
            let reason = result?.cancelReason.flatMap { $0.isEmpty ? nil : $0 }
            let compacted = result?.compactRevision.map { "compacted at revision \($0.value)" }
            throw EtcdError(.engine, "etcd canceled the watch: \(reason ?? compacted ?? "no reason given")")
        }
        return (events, revision, false)
    }
}
