/// `"networkPolicy": {"failClosed": false, "socket": "/run/weft/policy.sock"}`: ADD asks the local weftd
/// (`weftd --network-policy`) to install the pod's NetworkPolicy verdicts before the pod has an interface.
/// When weftd cannot answer (down, or not synced with the API): with `failClosed` ADD fails with code 11
/// (kubelet retries the sandbox); without, the pod is isolated (every packet to or from it dropped) until
/// weftd knows it. Never silently open.
public struct NetworkPolicyConfig: Decodable, Equatable, Sendable {
    public var failClosed: Bool?
    public var socket: String?

    public init(failClosed: Bool? = nil, socket: String? = nil) { self.failClosed = failClosed; self.socket = socket }
}

/// The validated setting.
public struct NetworkPolicySetting: Equatable, Sendable {
    public static let defaultSocket = "/run/weft/policy.sock"

    public var failClosed: Bool
    public var socket: String

    public init(failClosed: Bool = false, socket: String = NetworkPolicySetting.defaultSocket) {
        self.failClosed = failClosed; self.socket = socket
    }

    public static func resolve(_ config: NetworkPolicyConfig?) throws -> NetworkPolicySetting? {
        guard let config else { return nil }
        let socket = config.socket ?? defaultSocket
        guard socket.hasPrefix("/"), socket.utf8.count < 108 else {
            throw CNIError(.invalidConfig, "networkPolicy.socket \"\(Validation.printable(socket))\" is not an absolute path of under 108 bytes")
        }
        return NetworkPolicySetting(failClosed: config.failClosed ?? false, socket: socket)
    }
}
