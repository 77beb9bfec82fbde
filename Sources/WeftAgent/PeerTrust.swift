import WeftAddress

/// Leases are data anyone who can write to the engine controls, and each one becomes a route on every
/// node: only leases shaped like the network's subnets are connected, and none that could take traffic
/// meant for this node or for another node.
public enum PeerTrust {
    public struct Rejected: Equatable, Sendable {
        public let subnet: IPNetwork
        public let reason: String
    }

    /// The peers to connect and the leases refused, with why. A lease's IPv4 subnet must lie inside
    /// `Network` with this node's own subnet's length (its IPv6 subnet, on a dual-stack network, inside
    /// `IPv6Network` with this node's IPv6 length), and overlap neither this node's subnets nor another
    /// lease's: of two leases that overlap, neither is connected (which one is genuine cannot be told
    /// from the records). The length is `SubnetLen` under etcd (every lease is one) and the
    /// controller-manager's `--node-cidr-mask-size` under the kube backend, which leaves SubnetLen unread.
    public static func check(_ peers: [SubnetLease], own: SubnetLease, config: NetConf) -> (trusted: [SubnetLease], rejected: [Rejected]) {
        var rejected: [Rejected] = []
        var shaped: [SubnetLease] = []
        for peer in peers {
            if let reason = shapeProblem(peer, own: own, config: config) ?? overlapsOwn(peer, own: own, config: config) {
                rejected.append(Rejected(subnet: peer.subnet, reason: reason))
            } else {
                shaped.append(peer)
            }
        }
        var trusted: [SubnetLease] = []
        for (index, peer) in shaped.enumerated() {
            let clash = shaped.enumerated().first { other in
                other.offset != index && (other.element.subnet.overlaps(peer.subnet) || bothIPv6(peer, other.element, config: config))
            }
            if let clash {
                rejected.append(Rejected(subnet: peer.subnet, reason: "overlaps the lease of \(clash.element.attributes.publicIP) (\(clash.element.keyName))"))
            } else {
                trusted.append(peer)
            }
        }
        return (trusted, rejected)
    }

    static func shapeProblem(_ peer: SubnetLease, own: SubnetLease, config: NetConf) -> String? {
        let subnet = peer.subnet, length = own.subnet.prefixLength
        guard subnet.family == .v4, subnet.prefixLength == length, config.network.contains(subnet.networkAddress) else {
            return "\(subnet) is not a /\(length) of Network \(config.network)"
        }
        if let ipv6 = config.ipv6, let subnet6 = peer.ipv6Subnet {
            let length6 = own.ipv6Subnet?.prefixLength ?? ipv6.subnetLength
            if subnet6.family != .v6 || subnet6.prefixLength != length6 || !ipv6.network.contains(subnet6.networkAddress) {
                return "\(subnet6) is not a /\(length6) of IPv6Network \(ipv6.network)"
            }
        }
        return nil
    }

    static func overlapsOwn(_ peer: SubnetLease, own: SubnetLease, config: NetConf) -> String? {
        // The same subnet under this node's key is this node's own record, left out before; under
        // another PublicIP it is a lease taken from this node, never a route away from it.
        if peer.subnet.overlaps(own.subnet) { return "overlaps this node's subnet \(own.subnet)" }
        if config.ipv6 != nil, let mine = own.ipv6Subnet, let theirs = peer.ipv6Subnet, theirs.overlaps(mine) {
            return "overlaps this node's IPv6 subnet \(mine)"
        }
        return nil
    }

    private static func bothIPv6(_ one: SubnetLease, _ other: SubnetLease, config: NetConf) -> Bool {
        guard config.ipv6 != nil, let first = one.ipv6Subnet, let second = other.ipv6Subnet else { return false }
        return first.overlaps(second)
    }
}
