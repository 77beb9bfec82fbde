import WeftCNI
import WeftIdentity
import WeftNetlink

/// Per-pod bandwidth on the node side of the veth, where a pod holding CAP_NET_ADMIN cannot reach it:
/// traffic into the pod leaves the host veth, so a TBF as its root qdisc shapes it; traffic out of the
/// pod arrives on the host veth, where nothing can delay it, so an ingress redirect sends it out through
/// the attachment's IFB, whose root TBF shapes it (the reference bandwidth plugin's layout).
protocol Shaper {
    /// Shapes the attachment, replacing whatever shaping it had (a re-ADD with other rates updates them).
    /// `onIFBCreated` hands the caller the undo of the IFB as soon as it exists.
    func apply(
        _ limits: BandwidthLimits, hostVethIndex: Int32, attachment: AttachmentID, alias: String, mtu: UInt32?,
        onIFBCreated: () -> Void) throws
    /// Removes the attachment's IFB (the host veth's qdiscs go with the veth), with or without the netns.
    func remove(_ attachment: AttachmentID) throws
    /// What CHECK finds missing or different.
    func problems(_ limits: BandwidthLimits?, hostVethIndex: Int32, attachment: AttachmentID) throws -> [String]
}

/// The kernel's, through rtnetlink traffic-control messages.
struct NodeShaper: Shaper {
    /// The node's netlink handle: links and traffic control share its NETLINK_ROUTE socket.
    let netlink: NetlinkHandle

    func apply(
        _ limits: BandwidthLimits, hostVethIndex: Int32, attachment: AttachmentID, alias: String, mtu: UInt32?,
        onIFBCreated: () -> Void
    ) throws {
        let tc = try TrafficControl(handle: netlink)
        if let ingress = limits.ingress {
            try tc.shapeEgressOfLink(index: hostVethIndex, rateBitsPerSecond: ingress.rateBitsPerSecond, burstBits: ingress.burstBits)
        }
        guard let egress = limits.egress else { return }
        let ifb: Int32
        do {
            ifb = try tc.createIFB(name: attachment.ifbName, mtu: mtu, alias: alias)
        } catch let error as NetlinkError where error.isExists {
            // Left by an ADD killed before its DEL: the name is derived from this attachment, so it is ours.
            guard let existing = try RouteNetlink(handle: netlink).link(named: attachment.ifbName) else { throw error }
            ifb = existing.index
        }
        onIFBCreated()
        try tc.shapeEgressOfLink(index: ifb, rateBitsPerSecond: egress.rateBitsPerSecond, burstBits: egress.burstBits)
        try tc.redirectIngress(fromLinkIndex: hostVethIndex, toLinkIndex: ifb)
    }

    /// A plain link delete: every DEL runs this, shaped or not, so it opens no traffic-control connection
    /// (which would read /proc/net/psched first).
    func remove(_ attachment: AttachmentID) throws {
        try RouteNetlink(handle: netlink).deleteOwnedLink(named: attachment.ifbName, of: attachment)
    }

    func problems(_ limits: BandwidthLimits?, hostVethIndex: Int32, attachment: AttachmentID) throws -> [String] {
        guard let limits else { return [] }
        let tc = try TrafficControl(handle: netlink)
        var problems: [String] = []
        func compare(_ shaping: BandwidthLimits.Shaping, on index: Int32, _ what: String) throws {
            let wanted = try tc.tokenBucket(rateBitsPerSecond: shaping.rateBitsPerSecond, burstBits: shaping.burstBits)
            guard let root = try tc.rootQdisc(linkIndex: index), let installed = root.tokenBucket else {
                problems.append("\(what) has no tbf qdisc (wanted rate \(shaping.rateBitsPerSecond) bit/s, burst \(shaping.burstBits) bit)")
                return
            }
            if !wanted.matches(installed) {
                problems.append(
                    "\(what) has a tbf qdisc of rate \(installed.rateBytesPerSecond * 8) bit/s, wanted \(shaping.rateBitsPerSecond) bit/s with burst \(shaping.burstBits) bit"
                )
            }
        }
        if let ingress = limits.ingress { try compare(ingress, on: hostVethIndex, "host veth (ingress shaping)") }
        if let egress = limits.egress {
            guard let ifb = try RouteNetlink(handle: netlink).link(named: attachment.ifbName) else {
                problems.append("ifb \(attachment.ifbName) for egress shaping is missing")
                return problems
            }
            try compare(egress, on: ifb.index, "ifb \(attachment.ifbName) (egress shaping)")
            if try !tc.ingressRedirects(linkIndex: hostVethIndex).contains(where: { $0.targetIndex == ifb.index }) {
                problems.append("the host veth's ingress is not redirected to \(attachment.ifbName)")
            }
        }
        return problems
    }
}
