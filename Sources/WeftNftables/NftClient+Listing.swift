import CMnl
import CNftnl
import WeftNetlink

/// Tables and chains of every family, read back: what else programs the node (kube-proxy's tables,
/// iptables-nft's chains), and a table's chain names.
public struct NftTableName: Hashable, Sendable {
    /// NFPROTO_*: 1 inet, 2 ip, 10 ip6 (nft's family names in `name`).
    public let family: UInt8
    public let name: String

    public init(family: UInt8, name: String) { self.family = family; self.name = name }

    /// A table of the inet family (both IPv4 and IPv6), as Weft's are.
    public static func inet(_ name: String) -> NftTableName { NftTableName(family: NftTransaction.inet, name: name) }

    /// As `nft` spells the family: `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    public var familyName: String {
        switch Int(family) {
        case NFPROTO_INET: "inet"
        case NFPROTO_IPV4: "ip"
        case NFPROTO_IPV6: "ip6"
        case NFPROTO_ARP: "arp"
        case NFPROTO_BRIDGE: "bridge"
        case NFPROTO_NETDEV: "netdev"
        default: "family \(family)"
        }
    }
}

extension NftClient {
    /// Every table of every family (NFT_MSG_GETTABLE dumped with NFPROTO_UNSPEC).
    public func tables() throws -> [NftTableName] {
        try dump(NFT_MSG_GETTABLE, family: UInt8(NFPROTO_UNSPEC), operation: "list tables") { _ in }.compactMap { message in
            // nfgenmsg (its family first), then NFTA_TABLE_NAME (1).
            guard let family = message.payload.first, let name = NetlinkAttribute.parse(message.payload, from: 4).first(1)?.string else { return nil }
            return NftTableName(family: family, name: name)
        }
    }

    /// The names of a table's chains (none when the table is missing).
    public func chains(table: NftTableName) throws -> [String] {
        try dump(NFT_MSG_GETCHAIN, family: table.family, operation: "list chains of \(table.familyName) \(table.name)") { header in
            guard let chain = nftnl_chain_alloc() else { return }
            defer { nftnl_chain_free(chain) }
            nftnl_chain_set_str(chain, code(NFTNL_CHAIN_TABLE), table.name)
            nftnl_chain_nlmsg_build_payload(header, chain)
        }.compactMap { message in
            // NFTA_CHAIN_TABLE (1), NFTA_CHAIN_NAME (3): a dump filtered by table may still carry others on old kernels.
            let attributes = NetlinkAttribute.parse(message.payload, from: 4)
            guard message.payload.first == table.family, attributes.first(1)?.string == table.name else { return nil }
            return attributes.first(3)?.string
        }
    }

    /// The names of a table's sets, anonymous ones aside (none when the table is missing).
    public func sets(table: NftTableName) throws -> [String] {
        try dump(NFT_MSG_GETSET, family: table.family, operation: "list sets of \(table.familyName) \(table.name)") { header in
            guard let set = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, code(NFTNL_SET_TABLE), table.name)
            nftnl_set_nlmsg_build_payload(header, set)
        }.compactMap { message in
            // NFTA_SET_TABLE (1), NFTA_SET_NAME (2); anonymous sets and maps are named "__set%d", "__map%d".
            let attributes = NetlinkAttribute.parse(message.payload, from: 4)
            guard message.payload.first == table.family, attributes.first(1)?.string == table.name, let name = attributes.first(2)?.string,
                !name.hasPrefix("__")
            else { return nil }
            return name
        }
    }
}
