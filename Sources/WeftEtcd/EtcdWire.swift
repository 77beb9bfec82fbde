import Foundation

/// etcd v3's JSON gateway messages as Codable types, in the gateway's field names (its protobuf
/// names). Keys and values are base64 text; int64 fields are written as JSON strings and read as
/// strings or numbers (EtcdInt64). Fields weftd does not use are ignored; one of the wrong type is
/// refused, naming it.
public enum EtcdWire {
    // MARK: requests

    public struct RangeRequest: Encodable, Sendable {
        public var key: String
        public var rangeEnd: String?
        enum CodingKeys: String, CodingKey { case key, rangeEnd = "range_end" }
    }

    public struct PutRequest: Encodable, Sendable {
        public var key: String
        public var value: String
        public var lease: String?
    }

    public struct Compare: Encodable, Sendable {
        public var key: String
        public var target: String
        public var result: String
        public var version: String?
        public var modRevision: String?
        enum CodingKeys: String, CodingKey { case key, target, result, version, modRevision = "mod_revision" }
    }

    public struct RequestOp: Encodable, Sendable {
        public var requestPut: PutRequest
        enum CodingKeys: String, CodingKey { case requestPut = "request_put" }
    }

    public struct TransactionRequest: Encodable, Sendable {
        public var compare: [Compare]
        public var success: [RequestOp]
    }

    public struct WatchCreateRequest: Encodable, Sendable {
        public var key: String
        public var rangeEnd: String
        public var startRevision: String
        public var progressNotify: Bool
        enum CodingKeys: String, CodingKey {
            case key, rangeEnd = "range_end", startRevision = "start_revision", progressNotify = "progress_notify"
        }
    }

    public struct WatchRequest: Encodable, Sendable {
        public var createRequest: WatchCreateRequest
        enum CodingKeys: String, CodingKey { case createRequest = "create_request" }
    }

    struct LeaseGrantRequest: Encodable { var TTL: String }
    struct LeaseRequest: Encodable { var ID: String }
    struct AuthenticateRequest: Encodable { var name: String; var password: String }

    // MARK: replies

    public struct ResponseHeader: Decodable, Sendable {
        public var revision: EtcdInt64?
    }

    public struct KeyValue: Decodable, Sendable {
        public var key: String?
        public var value: String?
        public var modRevision: EtcdInt64?
        public var lease: EtcdInt64?
        enum CodingKeys: String, CodingKey { case key, value, modRevision = "mod_revision", lease }
    }

    public struct RangeResponse: Decodable, Sendable {
        public var header: ResponseHeader?
        public var kvs: [KeyValue]?
    }

    struct TransactionResponse: Decodable { var succeeded: Bool? }

    struct LeaseGrantResponse: Decodable {
        var ID: EtcdInt64?
        var error: String?
    }

    /// The keepalive stream mapped onto one POST: `result` wraps the reply (older gateways: the reply itself).
    struct KeepAliveResponse: Decodable {
        struct Result: Decodable { var TTL: EtcdInt64? }
        var result: Result?
        var TTL: EtcdInt64?
    }

    struct AuthenticateResponse: Decodable { var token: String? }

    /// Any reply weftd does not read (put, revoke).
    struct Ignored: Decodable {}

    /// A refusal's body: grpc-gateway writes `message` (older ones `error`).
    struct ErrorReply: Decodable {
        var message: String?
        var error: String?
    }

    public struct WatchEvent: Decodable, Sendable {
        /// PUT is the enum's zero value, which the gateway leaves out.
        public var type: String?
        public var kv: KeyValue?
    }

    public struct WatchResponse: Decodable, Sendable {
        public var header: ResponseHeader?
        public var events: [WatchEvent]?
        public var created: Bool?
        public var canceled: Bool?
        public var compactRevision: EtcdInt64?
        public var cancelReason: String?
        enum CodingKeys: String, CodingKey {
            case header, events, created, canceled, compactRevision = "compact_revision", cancelReason = "cancel_reason"
        }
    }

    /// One line of a watch stream: a reply, or the error the gateway sends instead.
    public struct WatchLine: Decodable, Sendable {
        public struct Failure: Decodable, Sendable {
            public var message: String?
            public var code: Int?
        }
        public var result: WatchResponse?
        public var error: Failure?
    }
}

/// An int64 of etcd's gateway: protobuf's JSON mapping writes it as a string ("7587"), and a number is
/// accepted too. A string that is not an int64, or a number past its range, is refused.
public struct EtcdInt64: Decodable, Equatable, Sendable {
    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = Int64(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an int64: \(text)"))
            }
            self.value = value
        } else if let number = try? container.decode(Int64.self) {
            value = number
        } else {
            throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "not an int64"))
        }
    }
}
