import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// One pod interface on the device datapath (Terway's exclusive ENI, an SR-IOV VF): a whole node
/// interface, claimed from the network's `devices` in the IPAM store, moved into the pod's namespace and
/// renamed CNI_IFNAME in one rtnetlink request, its MAC kept. The pod holds its address with the range's
/// prefix and routes through the range's gateway on the device's own network: its traffic never crosses
/// the node's stack, so no bridge, route, rule or nft element exists on the node for it.
///
/// The device carries an alias, "weft-device <networkKey> <containerKey> <ifname> <name on the node>",
/// set before the move (an alias travels with the device). The kernel returns a physical device to the
/// init namespace by itself when the pod's namespace dies, under its pod name (or devN when that is
/// taken); the alias finds it there and names what to rename it back to, with or without the store's
/// record. A virtual device (a veth, a macvlan) is destroyed with the namespace instead.
struct DeviceAttachment {
    let plan: NetworkPlan
    let id: AttachmentID

    static func alias(_ id: AttachmentID, original: String) -> String {
        "weft-device \(id.networkKey) \(id.containerKey) \(id.ifname) \(original)"
    }

    /// The device's name on the node, when `alias` is `id`'s.
    static func original(fromAlias alias: String?, of id: AttachmentID) -> String? {
        guard let fields = alias?.split(separator: " ").map(String.init), fields.count == 5, fields[0] == "weft-device",
            fields[1] == id.networkKey, fields[2] == id.containerKey, fields[3] == id.ifname
        else { return nil }
        return fields[4]
    }

    /// Moves the claimed device into the pod and configures it. Every step that changed something hands
    /// its undo to `undo` at once; the caller rolls back on error.
    func create(
        _ claim: DeviceClaim, node: Node, links: LinkControl, pod: PodSandbox, addresses: [IPAddress],
        undo: (@escaping Undo) -> Void
    ) throws -> CNIResult {
        guard let device = try links.link(named: claim.name) else {
            throw CNIError(.datapathFailure, "device \(claim.name) vanished from the node after it was claimed")
        }
        try links.setAlias(index: device.index, alias: Self.alias(id, original: claim.name))
        undo { if let device = try links.link(named: claim.name) { _ = try links.setAlias(index: device.index, alias: "") } }
        try links.changeLink(index: device.index, name: id.ifname, mtu: plan.mtu.map(UInt32.init), namespaceFD: pod.namespaceFD, up: nil)
        undo { _ = try Self.giveBack(id, original: claim.name, mtu: claim.mtu, netns: pod.path, node: node, links: links) }
        FaultInjection.point("add-after-device-move")
        guard let podLink = try pod.links.link(named: id.ifname) else {
            throw CNIError(.datapathFailure, "device \(claim.name) is not \(id.ifname) in \(pod.path) after the move")
        }
        let ips = try PodInterface.configure(podLink, in: pod, plan: plan, addresses: addresses, resultIndex: 0)
        return CNIResult(
            interfaces: [.init(name: id.ifname, mac: podLink.macText, sandbox: pod.path, mtu: Int(podLink.mtu))],
            ips: ips, routes: plan.routes, dns: plan.dns)
    }

    /// DEL's part: the device back on the node under its name there and with its MTU there. The kernel
    /// drops the pod's addresses and routes as the device leaves the namespace (its IPv4 and IPv6
    /// state is per namespace). Found in the pod as CNI_IFNAME carrying this attachment's alias, else on
    /// the node by that alias; not found, it was virtual and died with its namespace: nothing to do.
    /// `original` and `mtu` come from the store's record.
    static func giveBack(_ id: AttachmentID, original: String, mtu: UInt32?, netns: String, node: Node, links: LinkControl) throws {
        if !netns.isEmpty, let pod = try? node.openPod(netns), let inPod = try pod.links.link(named: id.ifname),
            try giveBack(id, inPod, from: pod, original: original, mtu: mtu, node: node, links: links)
        {
            return
        }
        try returnFromNode(id, original: original, mtu: mtu, links: links)
    }

    /// Moves `inPod` back to the node when its alias names `id` (and `original`, when known); false when
    /// it is not this attachment's device.
    static func giveBack(
        _ id: AttachmentID, _ inPod: Link, from pod: PodSandbox, original: String?, mtu: UInt32?,
        node: Node, links: LinkControl
    ) throws -> Bool {
        guard let name = Self.original(fromAlias: inPod.alias, of: id), original == nil || original == name else { return false }
        let home = try node.nodeNamespace()
        try pod.links.changeLink(index: inPod.index, name: name, mtu: mtu, namespaceFD: home.fd, up: nil, description: "the node's namespace")
        if let back = try links.link(named: name) { try links.setAlias(index: back.index, alias: "") }
        return true
    }

    /// A device the kernel returned to the node when its namespace died (under its pod name, or devN),
    /// found by its alias (a dump of the node's links) and renamed back.
    static func returnFromNode(_ id: AttachmentID, original: String?, mtu: UInt32?, links: LinkControl) throws {
        for link in try links.links() {
            guard let name = Self.original(fromAlias: link.alias, of: id), original == nil || original == name else { continue }
            try links.changeLink(index: link.index, name: link.name == name ? nil : name, mtu: mtu, up: false)
            try links.setAlias(index: link.index, alias: "")
        }
    }

    /// CHECK's part: the pod's CNI_IFNAME is the device the store says this attachment holds.
    static func problems(_ id: AttachmentID, recorded: RecordedAttachment?, pod: PodSandbox) throws -> [String] {
        guard let device = recorded?.device else { return ["IPAM holds no device for \(id)"] }
        guard let inPod = try pod.links.link(named: id.ifname) else { return [] }  // reported as missing already
        return original(fromAlias: inPod.alias, of: id) == device ? [] : ["\(id.ifname) in \(pod.path) is not device \(device)"]
    }
}
