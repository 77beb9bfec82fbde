import ArgumentParser

/// `--backend`: where weftd leases this node's subnet. A misspelt word is refused by the argument
/// parser, and `--help` lists the three.
enum SubnetBackend: String, CaseIterable, ExpressibleByArgument {
    /// flannel's etcd layout: `<prefix>/config` and `<prefix>/subnets/`.
    case etcd
    /// The Node's spec.podCIDR, as flanneld --kube-subnet-mgr.
    case kube
    /// No subnet lease: --network-policy alone.
    case none
}
