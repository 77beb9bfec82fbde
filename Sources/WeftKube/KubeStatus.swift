/// The Kubernetes API's metav1.Status: what a refusal says, as a reply's body or as the object of a
/// watch's ERROR event (410 Gone: the resourceVersion asked for is compacted, list again). Fields
/// weftd does not read (details, metadata) are ignored.
import WeftCNI

public struct KubeStatus: Decodable, Equatable, Sendable {
    var status: String?
    var message: String?
    var reason: String?
    var code: Int?

    enum CodingKeys: String, CodingKey { case status, message, reason, code }

    init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil) {
        self.status = status; self.message = message; self.reason = reason; self.code = code
    }

    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        status = try fields.decodeIfPresent(String.self, forKey: .status)
        message = try fields.decodeIfPresent(String.self, forKey: .message)
        reason = try fields.decodeIfPresent(String.self, forKey: .reason)
        code = try fields.decodeIntegerIfPresent(Int.self, forKey: .code)
    }

    /// "too old resource version: 1 (40) (code 410)", for errors and logs.
    public var summary: String { "\(message ?? "error") (code \(code ?? 0))" }
}

/// A watch's ERROR event: its object is a Status.
struct KubeWatchError: Decodable {
    var object: KubeStatus
}
