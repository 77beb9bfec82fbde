import WeftAddress
import WeftNftables

/// Reads the Services table back: the dispatch maps' elements (frontends; their comment names the
/// Service port, their verdict its chain) and the chain names (endpoints: `endpoint-<hash>-…__addr/port`,
/// grouped with the Service port's chains by the hash).
struct ServiceListingReader {
    let client: NftClient

    func read() throws -> [ServiceListing] {
        let table = NftTableName.inet(ServiceRuleset.table)
        let chains = try client.chains(table: table)
        var endpoints: [String: [String]] = [:]
        for chain in chains where chain.hasPrefix("endpoint-") {
            guard let hash = ServicePortNames.hash(ofName: chain), let split = chain.ranges(of: "__").last else { continue }
            endpoints[hash, default: []].append(Self.hostPort(String(chain[split.upperBound...])))
        }
        var listings: [String: ServiceListing] = [:]
        func add(_ element: NftSetElement, frontends: [String]) {
            guard let chain = Self.chain(element.verdict), let hash = ServicePortNames.hash(ofName: chain) else { return }
            let transport = TransportProtocol(rawValue: element.key[element.key.count - 8]).map(\.name) ?? "\(element.key[element.key.count - 8])"
            let key = "\(element.comment) \(transport) \(hash)"
            var listing = listings[key] ?? ServiceListing(service: element.comment, transport: transport, frontends: [], endpoints: [])
            listing.frontends += frontends
            if chain.hasPrefix("reject-") {
                listing.endpoints = []
            } else {
                listing.endpoints = (endpoints[hash] ?? []).sorted()
            }
            listings[key] = listing
        }
        for family in [IPAddress.Family.v4, .v6] {
            let layout = ServiceLayout.Family(family: family)
            for set in [layout.serviceIPs, layout.noEndpointServices] {
                for element in try client.elements(table: ServiceRuleset.table, set: set) {
                    guard let address = IPAddress(bytes: Array(element.key.prefix(Int(layout.addressLength)))) else { continue }
                    add(element, frontends: [Self.text(address, port: Self.port(element.key))])
                }
            }
            let nodeAddresses = try client.keys(table: ServiceRuleset.table, set: layout.nodePortIPs).compactMap { IPAddress(bytes: $0) }
            for set in [layout.nodePorts, layout.noEndpointNodePorts] {
                for element in try client.elements(table: ServiceRuleset.table, set: set) {
                    add(element, frontends: nodeAddresses.map { Self.text($0, port: Self.port(element.key)) })
                }
            }
        }
        return listings.values.map { listing in
            var sorted = listing
            sorted.frontends = Array(Set(listing.frontends)).sorted()
            return sorted
        }.sorted { ($0.service, $0.transport, $0.frontends.joined(separator: ",")) < ($1.service, $1.transport, $1.frontends.joined(separator: ",")) }
    }

    static func chain(_ verdict: NftVerdict?) -> String? {
        switch verdict {
        case let .goto(chain)?, let .jump(chain)?: chain
        default: nil
        }
    }

    /// The port of a key ending in `l4proto . port`, each padded to 4 bytes.
    static func port(_ key: [UInt8]) -> UInt16 { UInt16(key[key.count - 4]) << 8 | UInt16(key[key.count - 3]) }

    static func text(_ address: IPAddress, port: UInt16) -> String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }

    /// "addr/port" of an endpoint chain's name as "addr:port" ("[v6]:port").
    static func hostPort(_ text: String) -> String {
        guard let slash = text.lastIndex(of: "/"), let address = IPAddress(String(text[..<slash])), let port = UInt16(text[text.index(after: slash)...])
        else { return text }
        return Self.text(address, port: port)
    }
}
