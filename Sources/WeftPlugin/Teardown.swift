import WeftAddress
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// Removes what one attachment has on the node: DEL's work, shared with GC and with reclaiming the
/// reservations of pods whose netns is gone (ADD on a full range, `weftctl ipam gc`), which must leave
/// nothing behind either: a reclaimed address handed to a new pod must not bring the dead pod's hostPorts.
struct Teardown {
    let node: Node

    /// The attachment's links (host veth, IFB, or its device given back) and hostPorts; its reservation stays (the caller holds or releases it).
    /// Best effort over what can be proven to be this attachment's, repeatable, with or without the netns.
    /// `recorded`: the hostPorts the store's record names, nil without a record (then found by a dump).
    /// `lostDevice`: look for a device the kernel returned to the node without a record naming it (a
    /// reservation reclaimed after its netns died); a dump of the node's links, so DEL does not.
    func removeFromNode(_ attachment: AttachmentID, netns: String, recorded: RecordedAttachment? = nil, lostDevice: Bool = false) throws {
        let links = try node.links()
        if let recorded, let device = recorded.device {
            // A device attachment has no veth, IFB, uplink rule or hostPort on the node: only the device to give back.
            try DeviceAttachment.giveBack(attachment, original: device, mtu: recorded.deviceMTU, netns: netns, node: node, links: links)
            return
        }
        let firewall = node.firewall()
        // The links and the hostPorts are independent: their kernel waits overlap (Overlap).
        try Overlap.run(
            {
                if try !links.deleteOwnedLink(named: attachment.hostVethName, of: attachment) {
                    // No veth of this attachment by its name: CNI_IFNAME in the pod may be a renamed host end's peer, or (without a
                    // record) a device attachment's device; one look at the pod serves both.
                    if !netns.isEmpty, let pod = try? node.openPod(netns), let podEnd = try pod.links.link(named: attachment.ifname) {
                        let givenBack =
                            try recorded == nil
                            && DeviceAttachment.giveBack(attachment, podEnd, from: pod, original: nil, mtu: nil, node: node, links: links)
                        if !givenBack { try removeRenamedHostEnd(attachment, podEnd: podEnd, links: links) }
                    } else if recorded == nil && lostDevice {
                        try DeviceAttachment.returnFromNode(attachment, original: nil, mtu: nil, links: links)
                    }
                }
                try node.shaper().remove(attachment)
                if let recorded, let uplink = recorded.uplink {
                    try RoutedAttachment.removeUplinkState(addresses: recorded.addresses, uplink: uplink, links: links)
                }
            },
            beside: {
                try FirewallSettle.remove(
                    attachment, recorded: recorded.map { RecordedHostPorts(addresses: $0.addresses, mappings: $0.hostPorts) },
                    firewall: firewall, conntrack: node.conntrack)
            })
    }

    /// The host end was renamed: the pod end (CNI_IFNAME in CNI_NETNS) names its peer, and the peer's
    /// alias says whose it is. Only a peer whose alias names this attachment is deleted (which takes the
    /// pod end with it): CNI_IFNAME alone may belong to another container or another network.
    private func removeRenamedHostEnd(_ attachment: AttachmentID, podEnd: Link, links: LinkControl) throws {
        guard podEnd.kind == "veth", podEnd.peerIndex > 0,
            let hostEnd = try links.link(index: podEnd.peerIndex),
            let alias = hostEnd.alias, let (owner, _) = AttachmentID.parseAlias(alias, network: attachment.network),
            owner.recordName == attachment.recordName
        else { return }
        try links.deleteLink(index: hostEnd.index)
    }

    /// Attachments the store released to make room (their netns is gone).
    func removeReclaimed(_ reclaimed: [AttachmentID]) throws {
        for attachment in reclaimed { try removeFromNode(attachment, netns: "", lostDevice: true) }
    }
}

/// What `weftctl` needs of the plugin's teardown.
public enum Maintenance {
    /// Removes an attachment's links and hostPorts from this node (its reservation is the caller's).
    public static func removeFromNode(_ attachment: AttachmentID) throws {
        try Teardown(node: .live).removeFromNode(attachment, netns: "", lostDevice: true)
    }
}
