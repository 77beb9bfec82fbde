import FoundationEssentials
import WeftAddress

/// What ADD returns: interfaces, addresses, routes. Encoded in the shape of whichever spec version the config asked for.
public struct CNIResult: Sendable, Equatable {
    public struct Interface: Codable, Sendable, Equatable {
        public var name: String
        public var mac: String?
        public var sandbox: String?
        public var mtu: Int?
        public init(name: String, mac: String?, sandbox: String? = nil, mtu: Int? = nil) {
            self.name = name; self.mac = mac; self.sandbox = sandbox; self.mtu = mtu
        }
    }

    public struct IPConfig: Sendable, Equatable {
        /// The address with its subnet's prefix length (`10.244.1.5/24`).
        public var address: IPNetwork
        public var gateway: IPAddress?
        /// Index into `interfaces` of the interface holding the address.
        public var interface: Int?
        public init(address: IPNetwork, gateway: IPAddress?, interface: Int?) {
            self.address = address; self.gateway = gateway; self.interface = interface
        }
    }

    public struct Route: Sendable, Equatable {
        public var destination: IPNetwork
        public var gateway: IPAddress?
        public init(destination: IPNetwork, gateway: IPAddress?) {
            self.destination = destination; self.gateway = gateway
        }
    }

    public struct DNS: Codable, Sendable, Equatable {
        public var nameservers: [String]?
        public var domain: String?
        public var search: [String]?
        public var options: [String]?
        public init(nameservers: [String]? = nil, domain: String? = nil, search: [String]? = nil, options: [String]? = nil) {
            self.nameservers = nameservers; self.domain = domain; self.search = search; self.options = options
        }
    }

    /// Empty for an IPAM plugin's result, which names no interface.
    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public init(interfaces: [Interface], ips: [IPConfig], routes: [Route], dns: DNS = DNS()) {
        self.interfaces = interfaces; self.ips = ips; self.routes = routes; self.dns = dns
    }

    /// The JSON the spec defines for `version`: `ip4`/`ip6` objects up to 0.2.0,
    /// `interfaces`/`ips` with `ips[].version` for 0.3.x and 0.4.0, without it from 1.0.0.
    public func json(for version: CNIVersion) -> Data {
        if version < CNIVersion(major: 0, minor: 3, patch: 0) {
            return JSONOutput.encode(legacyWire(version))
        }
        let withIPVersion = version < CNIVersion(major: 1, minor: 0, patch: 0)
        let withMTU = version >= CNIVersion(major: 1, minor: 1, patch: 0)
        let wire = Wire(
            cniVersion: version.description,
            interfaces: interfaces.isEmpty ? nil : interfaces.map { Interface(name: $0.name, mac: $0.mac, sandbox: $0.sandbox, mtu: withMTU ? $0.mtu : nil) },
            ips: ips.map {
                WireIP(
                    version: withIPVersion ? ($0.address.family == .v4 ? "4" : "6") : nil,
                    interface: $0.interface, address: $0.address.description, gateway: $0.gateway?.description)
            },
            routes: routes.map { WireRoute(dst: $0.destination.description, gw: $0.gateway?.description) },
            dns: dns)
        return JSONOutput.encode(wire)
    }

    private func legacyWire(_ version: CNIVersion) -> LegacyWire {
        func block(_ family: IPAddress.Family) -> LegacyIP? {
            guard let ip = ips.first(where: { $0.address.family == family }) else { return nil }
            let familyRoutes = routes.filter { $0.destination.family == family }
            return LegacyIP(
                ip: ip.address.description, gateway: ip.gateway?.description,
                routes: familyRoutes.map { WireRoute(dst: $0.destination.description, gw: $0.gateway?.description) })
        }
        return LegacyWire(cniVersion: version.description, ip4: block(.v4), ip6: block(.v6), dns: dns)
    }

    struct Wire: Codable {
        var cniVersion: String?
        var interfaces: [Interface]?
        var ips: [WireIP]?
        var routes: [WireRoute]?
        var dns: DNS?
    }

    struct WireIP: Codable {
        var version: String?
        var interface: Int?
        var address: String
        var gateway: String?
    }

    struct WireRoute: Codable {
        var dst: String
        var gw: String?
    }

    struct LegacyWire: Encodable {
        var cniVersion: String
        var ip4: LegacyIP?
        var ip6: LegacyIP?
        var dns: DNS
    }

    struct LegacyIP: Encodable {
        var ip: String
        var gateway: String?
        var routes: [WireRoute]
    }
}

/// `prevResult` as CHECK and DEL receive it (spec 0.4.0 and later: the `ips`/`interfaces` shape).
public struct PreviousResult: Decodable, Sendable, Equatable {
    public let result: CNIResult

    public init(from decoder: Decoder) throws {
        let wire = try CNIResult.Wire(from: decoder)
        func bad(_ what: String, _ text: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(what) \"\(text)\""))
        }
        let ips = try (wire.ips ?? []).map { ip -> CNIResult.IPConfig in
            guard let address = IPNetwork(ip.address) else { throw bad("address", ip.address) }
            let gateway = try ip.gateway.map { text -> IPAddress in
                guard let gateway = IPAddress(text) else { throw bad("gateway", text) }
                return gateway
            }
            return CNIResult.IPConfig(address: address, gateway: gateway, interface: ip.interface)
        }
        let routes = try (wire.routes ?? []).map { route -> CNIResult.Route in
            guard let destination = IPNetwork(route.dst) else { throw bad("route dst", route.dst) }
            let gateway = try route.gw.map { text -> IPAddress in
                guard let gateway = IPAddress(text) else { throw bad("route gw", text) }
                return gateway
            }
            return CNIResult.Route(destination: destination, gateway: gateway)
        }
        result = CNIResult(interfaces: wire.interfaces ?? [], ips: ips, routes: routes, dns: wire.dns ?? CNIResult.DNS())
    }
}

/// VERSION's answer.
public struct VersionInfo: Encodable {
    public let cniVersion: String
    public let supportedVersions: [String]

    public init(cniVersion: CNIVersion) {
        self.cniVersion = cniVersion.description
        supportedVersions = CNIVersion.supported.map(\.description)
    }

    public var json: Data { JSONOutput.encode(self) }
}
