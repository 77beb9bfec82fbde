import WeftAddress
import WeftNftables

/// Weft's nftables state: one `inet weft` table whose rules never change per pod.
///
/// Hook priorities: DNAT runs at dstnat + 10 (-90) in prerouting and output, so kube-proxy's Service
/// and NodePort rules (dstnat, -100) always win a port both claim (CVE-2019-9946); masquerade runs at
/// srcnat + 10 (110), after kube-proxy's. Every hostPort rule first requires `fib daddr type local`,
/// so transit and pod-to-pod traffic is never caught (CVE-2025-67499).
public enum WeftRuleset {
    public static let table = "weft"
    /// The packet-mark bit set on hostPort traffic that must be masqueraded (hairpin and localhost).
    /// Distinct from kube-proxy's 0x4000/0x8000 and portmap's 0x2000.
    public static let hostPortMark: UInt32 = 0x0008_0000

    public static let prerouting = NftChain(name: "hostports-prerouting", hook: .prerouting, priority: -90)
    public static let output = NftChain(name: "hostports-output", hook: .output, priority: -90)
    public static let postrouting = NftChain(name: "hostports-postrouting", hook: .postrouting, priority: 110)

    /// The hostPort maps, HostPortMap's.
    public static var maps: [NftSet] { HostPortMap.allCases.map(\.set) }

    /// Filters what reaches the node's own sockets: loopback-only services are not for pods.
    public static let localInput = NftChain(name: "localnet-input", hook: .input, priority: 0, type: "filter")

    public static var staticChains: [NftChain] { [prerouting, output, postrouting, localInput] }

    /// The hostPort DNAT rules of one chain (prerouting or output) and the localhost masquerade rule.
    public static var staticRules: [NftRule] {
        var rules: [NftRule] = []
        for chain in [prerouting, output] {
            rules.append(NftRule(chain: chain.name, expressions: dnatRule(.v4, specific: true)))
            rules.append(NftRule(chain: chain.name, expressions: dnatRule(.v4, specific: false)))
            rules.append(NftRule(chain: chain.name, expressions: dnatRule(.v6, specific: true)))
            rules.append(NftRule(chain: chain.name, expressions: dnatRule(.v6, specific: false)))
        }
        // The node reaching 127.0.0.1:hostPort: the DNATed packet leaves through the bridge with a loopback
        // source (allowed by route_localnet on the bridge) and must carry the node's address instead.
        rules.append(
            NftRule(
                chain: postrouting.name,
                expressions: markTest() + nfproto(.v4)
                    + [
                        .payload(.network, offset: 12, length: 4, into: .r(1)), .bitwise(.r(1), mask: [255, 0, 0, 0], xor: [0, 0, 0, 0]),
                        .cmp(.eq, .r(1), [127, 0, 0, 0]), .counter, .masquerade,
                    ]))
        rules += loopbackGuard.map { NftRule(chain: localInput.name, expressions: $0) }
        return rules
    }

    /// route_localnet (on for 127.0.0.1:hostPort) makes the kernel accept packets for 127.0.0.0/8 that
    /// arrive on that interface, so a pod could reach the node's loopback-only listeners (the
    /// CVE-2020-8558 class). Dropped here unless they came in on a loopback device or conntrack
    /// DNATed them (Weft's own 127.0.0.1:hostPort flows: the replies come back to 127.0.0.1 that way).
    /// ::1 from outside is a martian the kernel drops itself; the rule says so anyway.
    static let loopbackGuard: [[NftExpression]] = {
        let notFromLoopback: [NftExpression] = [.meta(.iiftype, into: .r(1)), .cmp(.neq, .r(1), hostOrder16(772))]  // ARPHRD_LOOPBACK
        let notDNATed: [NftExpression] = [
            .ctStatus(into: .r(2)), .bitwise(.r(2), mask: hostOrder(0x20), xor: [0, 0, 0, 0]),
            .cmp(.eq, .r(2), [0, 0, 0, 0]),
        ]
        let v4 =
            nfproto(.v4) + [
                .payload(.network, offset: 16, length: 4, into: .r(1)),
                .bitwise(.r(1), mask: [255, 0, 0, 0], xor: [0, 0, 0, 0]), .cmp(.eq, .r(1), [127, 0, 0, 0]),
            ]
        let v6 =
            nfproto(.v6) + [
                .payload(.network, offset: 24, length: 16, into: .r(1)),
                .cmp(.eq, .r(1), [UInt8](repeating: 0, count: 15) + [1]),
            ]
        return [
            v4 + notFromLoopback + notDNATed + [.counter, .verdict(.drop)],
            v6 + notFromLoopback + [.counter, .verdict(.drop)],
        ]
    }()

    /// The per-network chain: hostPort hairpin masquerade always, outbound masquerade with `ipMasq`.
    public static func networkChain(_ network: String) -> NftChain {
        NftChain(name: "net-\(network)", hook: .postrouting, priority: 110)
    }

    public static func networkRules(network: String, subnets: [IPNetwork], clusterNetworks: [IPNetwork], masquerade: Bool) -> [NftRule] {
        let chain = networkChain(network).name
        var rules: [NftRule] = []
        for subnet in subnets.map(\.canonical) {
            let source = nfproto(subnet.family) + match(subnet, source: true, register: .r(1))
            // A pod reaching its own (or a neighbour's) hostPort: the reply must come back through the node.
            rules.append(NftRule(chain: chain, expressions: markTest() + source + [.counter, .masquerade]))
            if masquerade {
                var expressions = source
                for cluster in clusterNetworks.map(\.canonical) where cluster.family == subnet.family {
                    expressions += match(cluster, source: false, register: .r(2), negate: true)
                }
                let multicast = subnet.family == .v4 ? IPNetwork("224.0.0.0/4") : IPNetwork("ff00::/8")
                if let multicast { expressions += match(multicast, source: false, register: .r(2), negate: true) }
                rules.append(NftRule(chain: chain, expressions: expressions + [.counter, .masquerade]))
            }
        }
        return rules
    }

    // MARK: building blocks (the generic ones are NftMatch's)

    static func nfproto(_ family: IPAddress.Family) -> [NftExpression] { NftMatch.family(family, register: .r(0)) }

    static func markTest() -> [NftExpression] {
        [.meta(.mark, into: .r(0)), .bitwise(.r(0), mask: hostOrder(hostPortMark), xor: [0, 0, 0, 0]), .cmp(.eq, .r(0), hostOrder(hostPortMark))]
    }

    static func markSet(_ register: Register) -> [NftExpression] {
        [.meta(.mark, into: register), .bitwise(register, mask: hostOrder(~hostPortMark), xor: hostOrder(hostPortMark)), .setMeta(.mark, from: register)]
    }

    static func match(_ network: IPNetwork, source: Bool, register: Register, negate: Bool = false) -> [NftExpression] {
        NftMatch.network(network, source: source, register: register, negate: negate)
    }

    /// `fib daddr type local`, the key (daddr . l4proto . dport or l4proto . dport), the map lookup, the mark, the DNAT.
    static func dnatRule(_ family: IPAddress.Family, specific: Bool) -> [NftExpression] {
        let isV4 = family == .v4
        let addressWords: UInt32 = isV4 ? 1 : 4
        var expressions = nfproto(family) + [.fibDestinationType(into: .r(0)), .cmp(.eq, .r(0), hostOrder(2))]
        var next = Register.r(0)
        if specific {
            expressions.append(.payload(.network, offset: isV4 ? 16 : 24, length: addressWords * 4, into: next))
            next = next.advanced(by: addressWords)
        }
        let key = specific ? Register.r(0) : next
        expressions.append(.meta(.l4proto, into: next))
        expressions.append(.payload(.transport, offset: 2, length: 2, into: next.advanced(by: 1)))
        let value = next.advanced(by: 2)
        let map = "host\(specific ? "ips" : "ports")\(isV4 ? 4 : 6)"
        expressions.append(.lookup(set: map, key: key, into: value))
        let port = value.advanced(by: addressWords)
        expressions += markSet(port.advanced(by: 1))
        expressions += [.counter, .dnat(family: family, address: value, port: port)]
        return expressions
    }

    static func hostOrder(_ value: UInt32) -> [UInt8] { NftMatch.hostOrder(value) }
    static func hostOrder16(_ value: UInt16) -> [UInt8] { NftMatch.hostOrder16(value) }
}
