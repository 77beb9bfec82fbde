import WeftAddress
import WeftCNI
import WeftNetlink
import WeftNftables
import WeftPolicy

/// What ADD and DEL ask of NetworkPolicy (`networkPolicy` in the config): weftd over its socket, and the
/// isolation table when weftd cannot answer.
protocol PolicyGate {
    /// weftd's answer to an attach: nil when the verdicts are installed, else why not.
    func attach(socket: String, pod: PolicyPodIdentity, addresses: [IPAddress]) -> String?
    /// The sandbox's addresses are no longer the pod's.
    func release(socket: String, sandbox: String, addresses: [IPAddress]) throws
    func isolate(_ addresses: [IPAddress]) throws
    func unisolate(_ addresses: [IPAddress]) throws
}

/// Who an attach is for: the pod (namespace, name, UID when the runtime sends it) and its sandbox.
struct PolicyPodIdentity: Equatable {
    let namespace: String
    let name: String
    let uid: String?
    let sandbox: String
}

struct LivePolicyGate: PolicyGate {
    /// The node's netlink handle: the isolation table goes through its NETLINK_NETFILTER socket.
    let netlink: NetlinkHandle

    func attach(socket: String, pod: PolicyPodIdentity, addresses: [IPAddress]) -> String? {
        let request = PolicyRequest(
            op: .attach, namespace: pod.namespace, name: pod.name, addresses: addresses.map(\.description),
            sandbox: pod.sandbox, uid: pod.uid)
        do {
            let reply = try PolicyClient(path: socket).send(request)
            return reply.ok ? nil : reply.error ?? "weftd refused without a reason"
        } catch {
            return "\(error)"
        }
    }

    func release(socket: String, sandbox: String, addresses: [IPAddress]) throws {
        _ = try PolicyClient(path: socket, timeoutSeconds: 2)
            .send(PolicyRequest(op: .release, addresses: addresses.map(\.description), sandbox: sandbox))
    }

    func isolate(_ addresses: [IPAddress]) throws {
        try PodIsolation.isolate(addresses, client: NftClient(handle: netlink))
    }

    func unisolate(_ addresses: [IPAddress]) throws {
        try PodIsolation.release(addresses, client: NftClient(handle: netlink))
    }
}

/// ADD's and DEL's steps for NetworkPolicy.
enum PodPolicy {
    /// Before the pod's interface exists: its verdicts installed by weftd, or (weftd unable to) the pod
    /// isolated, or with `failClosed` the ADD refused with code 11 so kubelet tries again. A pod without
    /// a Kubernetes identity in CNI_ARGS (cnitool, podman) is selected by no policy: nothing to do.
    static func attach(
        _ setting: NetworkPolicySetting, args: CNIArgs, sandbox: String, addresses: [IPAddress], gate: PolicyGate,
        undo: (@escaping Undo) -> Void
    ) throws {
        guard let namespace = args["K8S_POD_NAMESPACE"], let name = args["K8S_POD_NAME"], !namespace.isEmpty, !name.isEmpty else { return }
        let pod = PolicyPodIdentity(namespace: namespace, name: name, uid: args["K8S_POD_UID"].flatMap { $0.isEmpty ? nil : $0 }, sandbox: sandbox)
        guard let problem = gate.attach(socket: setting.socket, pod: pod, addresses: addresses) else {
            undo { try gate.release(socket: setting.socket, sandbox: sandbox, addresses: addresses) }
            return
        }
        if setting.failClosed {
            throw CNIError(
                .tryAgainLater, "NetworkPolicy for \(namespace)/\(name) could not be installed: \(problem)",
                details: "networkPolicy.failClosed is set: the pod is not started until weftd answers")
        }
        do {
            try gate.isolate(addresses)
        } catch {
            throw CNIError(
                .datapathFailure, "NetworkPolicy for \(namespace)/\(name) could not be installed (\(problem)) and the pod could not be isolated: \(error)")
        }
        undo { try gate.unisolate(addresses) }
    }

    /// DEL: best effort, never failing: weftd forgets the addresses, the isolation table lets them go.
    static func detach(
        _ setting: NetworkPolicySetting, sandbox: String, addresses: [IPAddress], gate: PolicyGate,
        report: (String) -> Void
    ) {
        guard !addresses.isEmpty else { return }
        let pod = addresses.map(\.description).joined(separator: ",")
        do {
            try gate.release(socket: setting.socket, sandbox: sandbox, addresses: addresses)
        } catch {
            report("DEL: weftd was not told that \(pod) left (it prunes the claim at its next list of pods): \(error)")
        }
        do {
            try gate.unisolate(addresses)
        } catch {
            report("DEL: \(pod) could not be let out of the isolation table (the next ADD of the address tries again): \(error)")
        }
    }
}
