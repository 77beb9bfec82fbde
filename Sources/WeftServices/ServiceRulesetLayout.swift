import WeftAddress
import WeftNftables

/// The fixed part of the Services table: base chains at kube-proxy's priorities (GUIDE §8), the shared
/// regular chains, the dispatch maps, and how a family's keys are matched and written.
enum ServiceLayout {
    /// The mark that asks `masquerading` to masquerade a connection: a bit of its own, distinct from
    /// Weft's hostPorts (0x80000), kube-proxy's (0x4000, 0x8000) and portmap's (0x2000).
    static let masqueradeMark: UInt32 = 0x40000

    /// NF_IP_PRI_NAT_DST (dstnat) and NF_IP_PRI_NAT_SRC (srcnat): Weft's hostPorts are at dstnat + 10 and
    /// its masquerade at srcnat + 10, so a Service's DNAT is the first binding a connection gets.
    static let dstnat: Int32 = -100
    static let srcnat: Int32 = 100

    static let baseChains = [
        NftChain(name: "filter-prerouting", hook: .prerouting, priority: dstnat - 10, type: "filter"),
        NftChain(name: "filter-output", hook: .output, priority: dstnat - 10, type: "filter"),
        NftChain(name: "nat-prerouting", hook: .prerouting, priority: dstnat),
        NftChain(name: "nat-output", hook: .output, priority: dstnat),
        NftChain(name: "nat-postrouting", hook: .postrouting, priority: srcnat),
    ]
    static let filterServices = "filter-services", services = "services", masquerading = "masquerading"
    static let markForMasquerade = "mark-for-masquerade", rejectServices = "reject-services"
    static let sharedChains = [filterServices, services, masquerading, markForMasquerade, rejectServices]

    /// The dispatch maps of one family: `daddr . l4proto . dport` (service-ips, firewall-ips,
    /// no-endpoint-services), `l4proto . dport` on the node's addresses (service-nodeports, no-endpoint-nodeports).
    struct Family {
        let family: IPAddress.Family
        var suffix: String { family == .v4 ? "" : "6" }
        var serviceIPs: String { "service-ips" + suffix }
        var firewallIPs: String { "firewall-ips" + suffix }
        var noEndpointServices: String { "no-endpoint-services" + suffix }
        var nodePorts: String { "service-nodeports" + suffix }
        var noEndpointNodePorts: String { "no-endpoint-nodeports" + suffix }
        var nodePortIPs: String { "nodeport-ips" + suffix }
        /// 32-bit registers the address fills (1 or 4); the protocol and port follow it.
        var addressWords: UInt32 { family == .v4 ? 1 : 4 }
        var addressLength: UInt32 { addressWords * 4 }
        var protocolRegister: Register { .r(addressWords) }
        var portRegister: Register { .r(addressWords + 1) }

        var sets: [NftSet] {
            let address = NftDatatype.address(family), proto = NftDatatype.inetProto, service = NftDatatype.inetService
            let triple = NftDatatype.concat(address, proto, service), pair = NftDatatype.concat(proto, service)
            return [
                NftSet(name: serviceIPs, keyLength: addressLength + 8, keyType: triple, data: .verdict),
                NftSet(name: firewallIPs, keyLength: addressLength + 8, keyType: triple, data: .verdict),
                NftSet(name: noEndpointServices, keyLength: addressLength + 8, keyType: triple, data: .verdict),
                NftSet(name: nodePorts, keyLength: 8, keyType: pair, data: .verdict),
                NftSet(name: noEndpointNodePorts, keyLength: 8, keyType: pair, data: .verdict),
                NftSet(name: nodePortIPs, keyLength: addressLength, keyType: address),
            ]
        }

        /// `meta nfproto F ip daddr . meta l4proto . th dport` into registers 0…
        var destinationKey: [NftExpression] {
            NftMatch.family(family, register: .r(0)) + NftMatch.loadAddress(family, source: false, into: .r(0)) + [
                .meta(.l4proto, into: protocolRegister), .payload(.transport, offset: 2, length: 2, into: portRegister),
            ]
        }

        /// `meta nfproto F ip daddr @nodeport-ips meta l4proto . th dport`: the protocol and port in registers 0 and 1.
        var nodePortKey: [NftExpression] {
            NftMatch.family(family, register: .r(0)) + NftMatch.loadAddress(family, source: false, into: .r(0)) + [
                .lookup(set: nodePortIPs, key: .r(0), into: nil), .meta(.l4proto, into: .r(0)), .payload(.transport, offset: 2, length: 2, into: .r(1)),
            ]
        }

        static func key(_ address: IPAddress, _ transport: TransportProtocol, _ port: UInt16) -> [UInt8] {
            address.bytes + portKey(transport, port)
        }

        /// A protocol and a port as registers hold them: each field padded to 4 bytes.
        static func portKey(_ transport: TransportProtocol, _ port: UInt16) -> [UInt8] {
            [transport.rawValue, 0, 0, 0] + NftMatch.port(port) + [0, 0]
        }
    }

    /// `ct state new`: NFT_CT_STATE's new bit (8).
    static let newConnection: [NftExpression] = [
        .ctState(into: .r(0)), .bitwise(.r(0), mask: NftMatch.hostOrder(8), xor: [0, 0, 0, 0]), .cmp(.neq, .r(0), [0, 0, 0, 0]),
    ]

    /// The shared chains' rules: base chains into the regular ones, dispatch per family, masquerading.
    static func sharedRules() -> [NftRule] {
        let mark = NftMatch.hostOrder(masqueradeMark), none: [UInt8] = [0, 0, 0, 0]
        var rules = [
            NftRule(chain: "filter-prerouting", expressions: [.verdict(.jump(filterServices))]),
            NftRule(chain: "filter-output", expressions: [.verdict(.jump(filterServices))]),
            NftRule(chain: "nat-prerouting", expressions: [.verdict(.jump(services))]),
            NftRule(chain: "nat-output", expressions: [.verdict(.jump(services))]),
            NftRule(chain: "nat-postrouting", expressions: [.verdict(.jump(masquerading))]),
        ]
        for family in [Family(family: .v4), Family(family: .v6)] {
            rules += [
                // Load-balancer addresses with source ranges: the firewall chain returns or drops.
                NftRule(chain: filterServices, expressions: family.destinationKey + [.verdictMap(set: family.firewallIPs, key: .r(0))]),
                // No endpoints: refused at once rather than left to time out (kernel ≥ 5.9 rejects in prerouting).
                NftRule(chain: filterServices, expressions: newConnection + family.destinationKey + [.verdictMap(set: family.noEndpointServices, key: .r(0))]),
                NftRule(chain: filterServices, expressions: newConnection + family.nodePortKey + [.verdictMap(set: family.noEndpointNodePorts, key: .r(0))]),
                NftRule(chain: services, expressions: family.destinationKey + [.verdictMap(set: family.serviceIPs, key: .r(0))]),
                NftRule(chain: services, expressions: family.nodePortKey + [.verdictMap(set: family.nodePorts, key: .r(0))]),
            ]
        }
        rules += [
            NftRule(
                chain: masquerading,
                expressions: [.meta(.mark, into: .r(0)), .bitwiseBool(.r(0), mask: mark, xor: none), .cmp(.eq, .r(0), none), .verdict(.return)]),
            // The mark is cleared so a packet that is routed on (into a tunnel) is not masqueraded twice.
            NftRule(
                chain: masquerading,
                expressions: [.meta(.mark, into: .r(0)), .bitwiseBool(.r(0), mask: [0xff, 0xff, 0xff, 0xff], xor: mark), .setMeta(.mark, from: .r(0))]),
            NftRule(chain: masquerading, expressions: [.masqueradeFullyRandom]),
            NftRule(
                chain: markForMasquerade,
                expressions: [
                    .meta(.mark, into: .r(0)), .bitwiseBool(.r(0), mask: NftMatch.hostOrder(~masqueradeMark), xor: mark), .setMeta(.mark, from: .r(0)),
                ]),
            NftRule(
                chain: rejectServices, expressions: [.meta(.l4proto, into: .r(0)), .cmp(.eq, .r(0), [TransportProtocol.tcp.rawValue]), .reject(.tcpReset)]),
            NftRule(chain: rejectServices, expressions: [.reject(.icmpxPortUnreachable)]),
        ]
        return rules
    }
}
