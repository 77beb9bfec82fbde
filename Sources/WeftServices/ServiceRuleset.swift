import WeftAddress
import WeftNftables

/// Service plans compiled into one nftables table (kube-proxy's nftables design, KEP-3866): dispatch
/// verdict maps keyed by address . protocol . port, one chain per Service port and per endpoint.
public enum ServiceRuleset {
    /// The table weftd --services owns; nothing else writes it.
    public static let table = "weft-services"

    /// The whole table for these plans on this node. Pure: the same plans give the same image.
    public static func image(_ plans: [ServicePortPlan], node: ServiceNode) -> NftTableImage {
        NftTableImage(name: table)
    }
}
