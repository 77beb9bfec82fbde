import WeftAddress

/// The names of a Service port's chains and sets, kube-proxy style, so they read back: `service-<hash8>-
/// <ns>/<name>/<proto>/<port>`, `endpoint-<hash8>-…__<addr>/<port>`. The hash is over the family and the
/// port's identity, the same for every chain of the port (the listing groups endpoints by it); nft names may
/// be 255 bytes, longer ones are cut (the hash keeps them apart).
struct ServicePortNames: Sendable {
    let hash: String
    let readable: String
    /// The affinity timeout is part of the affinity sets' names: a set's timeout is fixed when it is
    /// created, so a changed timeout is a new set (this Service's sets and chains change, and nothing
    /// else: a set redeclared under its old name would make the diff replace the whole table, wiping
    /// every Service's affinity).
    let affinitySeconds: UInt32

    init(_ plan: ServicePortPlan) {
        let identity = "\(plan.family == .v4 ? 4 : 6)|\(plan.namespace)|\(plan.name)|\(plan.portName)|\(plan.transport.name)|\(plan.port)"
        hash = ServiceHash.hex32(identity)
        readable = "\(plan.namespace)/\(plan.name)/\(plan.transport.name)/\(plan.port)"
        affinitySeconds = plan.affinitySeconds ?? 0
    }

    var service: String { Self.capped("service-\(hash)-\(readable)") }
    var external: String { Self.capped("external-\(hash)-\(readable)") }
    var firewall: String { Self.capped("firewall-\(hash)-\(readable)") }
    func endpoint(_ endpoint: EndpointPlan) -> String { Self.capped("endpoint-\(hash)-\(readable)__\(endpoint.address)/\(endpoint.port)") }
    func affinity(_ endpoint: EndpointPlan) -> String {
        Self.capped("affinity-\(hash)-\(affinitySeconds)s-\(readable)__\(endpoint.address)/\(endpoint.port)")
    }

    /// NFT_CHAIN_MAXNAMELEN and NFT_SET_MAXNAMELEN are 256 with the NUL: a longer name is cut on a
    /// character boundary and ends in `~` and a hash of the whole, so two endpoints of one port whose names
    /// differ only past the cut stay apart. (The API's 63-byte namespaces and names never get there.)
    static func capped(_ name: String) -> String {
        guard name.utf8.count > 255 else { return name }
        let suffix = "~" + ServiceHash.hex32(name)
        var result = ""
        for character in name {
            if result.utf8.count + String(character).utf8.count + suffix.utf8.count > 255 { break }
            result.append(character)
        }
        return result + suffix
    }

    /// The hash of a chain or set name made here: the 8 hex digits after its kind.
    static func hash(ofName name: String) -> String? {
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let hash = name[name.index(after: dash)...].prefix(8)
        return hash.count == 8 ? String(hash) : nil
    }
}

/// 32-bit FNV-1a, as hex: short, stable across runs and builds (Hasher is seeded per process).
enum ServiceHash {
    static func hex32(_ text: String) -> String {
        var hash: UInt32 = 0x811c_9dc5
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
