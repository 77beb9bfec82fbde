/// What stops a request to the Kubernetes API or reading its credentials, with a message an operator
/// can act on. The API server's own refusals (KubeAPIError, with their HTTP status) and an oversized
/// reply (KubeReplyTooLarge) keep their types, as the Informer decides on them. A kind's text is the
/// one weftd has always logged for it (weftd's AgentError uses the same words), so moving the client
/// out of weftd changed no message.
public struct KubeError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The credentials or the kubeconfig say something the client cannot use.
        case invalidConfig = "invalid configuration"
        /// The API server could not be reached (weftd's subnet engine under --backend kube).
        case engine = "subnet engine"
        /// The list and watch (Informer), a reply or event the client cannot use.
        case kubeAPI = "Kubernetes API"
        /// A file the credentials name cannot be read.
        case file = "file"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
