/// What stops a request to etcd or its settings, with a message an operator can act on. A kind's text
/// is the one weftd has always logged for it (weftd's AgentError uses the same words), so moving the
/// client out of weftd changed no message.
public struct EtcdError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The endpoints or the TLS and auth settings say something the client cannot use.
        case invalidConfig = "invalid configuration"
        /// etcd answered with an error or could not be reached (weftd's subnet engine under --backend etcd).
        case engine = "subnet engine"
        /// etcd refused the user and password (wrong password, unknown user, auth not enabled): asking
        /// again would be refused again, so the caller should stop instead of retrying.
        case credentials = "etcd refused the credentials"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
