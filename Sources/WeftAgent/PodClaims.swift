import Foundation
import WeftAddress
import WeftPolicy

/// The addresses a pod's ADD announced, standing for the pod until the API reports them. A claim is its
/// sandbox's (CNI_CONTAINERID) and its pod's (UID): a later sandbox of the pod replaces it, an older
/// attach never does, a DEL of another sandbox never removes it, and it goes as soon as the API shows it
/// stale, so a claim that outlived its pod (weftd missed the DEL and the deletion) can never strip the
/// addresses of the pod that has them now.
struct PodClaim: Equatable, Sendable {
    var addresses: [IPAddress]
    var sandbox: String?
    var uid: String?
    /// When its attach arrived, in arrival order.
    var sequence: UInt64 = 0

    /// Why the claim no longer stands, from the API's view of the cluster, or nil. `pod` is the claimed
    /// pod as the API has it (nil: none), `liveOwners` the live pods of this node by the addresses the
    /// API reports for them. `complete`: the view is a full list, so a pod it lacks does not exist.
    func staleReason(key: String, pod: PolicyPod?, node: String, liveOwners: [IPAddress: String], complete: Bool) -> String? {
        guard let pod else { return complete ? "the API has no pod \(key)" : nil }
        if let uid, let current = pod.uid, uid != current { return "\(key) is another pod now (uid \(current), the claim's \(uid))" }
        if let nodeName = pod.nodeName, nodeName != node { return "\(key) runs on node \(nodeName)" }
        if let (address, owner) = addresses.lazy.compactMap({ address in liveOwners[address].map { (address, $0) } }).first(where: { $0.1 != key }) {
            return "\(address) is live pod \(owner)'s"
        }
        return nil
    }
}

/// The claims beside the policy socket (tmpfs), across weftd restarts, written whole and renamed into
/// place. Format 2: {"version":2,"claims":{"ns/name":{"addresses":[…],"sandbox":…,"uid":…}}}; format 1,
/// a map of "ns/name" to addresses written by earlier versions, is read too (claims without a sandbox).
enum ClaimsFile {
    struct Entry: Codable, Equatable { var addresses: [String]; var sandbox: String?; var uid: String? }
    struct Document: Codable, Equatable { var version: Int; var claims: [String: Entry] }

    static func decode(_ data: Data) -> [String: PodClaim] {
        if let document = try? JSONDecoder().decode(Document.self, from: data), document.version == 2 {
            return document.claims.mapValues { PodClaim(addresses: $0.addresses.compactMap(IPAddress.init), sandbox: $0.sandbox, uid: $0.uid) }
        }
        if let legacy = try? JSONDecoder().decode([String: [String]].self, from: data) {
            return legacy.mapValues { PodClaim(addresses: $0.compactMap(IPAddress.init)) }
        }
        return [:]
    }

    static func encode(_ claims: [String: PodClaim]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let entries = claims.mapValues { Entry(addresses: $0.addresses.map(\.description), sandbox: $0.sandbox, uid: $0.uid) }
        return try encoder.encode(Document(version: 2, claims: entries))
    }
}
