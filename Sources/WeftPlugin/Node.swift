import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink
import WeftNftables
import WeftSystem

/// Everything the commands change on the node, in one injected bundle: rtnetlink in the node's and the
/// pod's namespaces, sysctls, the IPAM store, the firewall, traffic shaping, the policy gate and the report of what failed without failing the command. `Node.live` is the kernel's;
/// tests build their own to run the dispatcher, version negotiation, rollback order and error mapping
/// in-process, without root. Privileged tests keep what only the kernel can show.
public struct Node {
    /// rtnetlink in the plugin's own namespace (the node's).
    var links: () throws -> LinkControl
    /// CNI_NETNS opened and checked to be a namespace file other than the plugin's own and PID 1's.
    var openPod: (String) throws -> PodSandbox
    /// /proc/sys as the node's namespace shows it.
    var sysctl: SysctlControl
    /// The IPAM store of one network: (dataDir, network).
    var store: (String, String) -> AddressStore
    var firewall: () -> Firewall
    /// The node's conntrack table: flows an address's previous pod left, UDP flows to a hostPort.
    var conntrack: () -> ConnectionTracking
    /// Per-pod bandwidth (traffic control).
    var shaper: () -> Shaper
    /// weftd's policy socket and the isolation table (`networkPolicy`).
    var policy: () -> PolicyGate = { LivePolicyGate(netlink: .current()) }
    /// The plugin's own namespace (the node's), for moving a device back into it.
    var nodeNamespace: () throws -> NetworkNamespace = { try NetworkNamespace(path: "/proc/thread-self/ns/net") }
    /// What went wrong without failing the command (an undo step of a failed ADD, DEL's best-effort
    /// conntrack flush): the plugin's stderr, which containerd keeps in its log.
    var report: (String) -> Void = { message in
        let line = Array("weft: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// The kernel's, with one netlink handle for the node's namespace that every step of the command shares
    /// (its sockets opened on first use): a fresh one for each command.
    public static var live: Node {
        let netlink = NetlinkHandle.current()
        return Node(
            links: { RouteNetlink(handle: netlink) },
            openPod: LivePod.open,
            sysctl: LiveSysctl(),
            store: { dataDir, network in FileStore(dataDir: dataDir, network: network) },
            firewall: { NodeFirewall(netlink: netlink) },
            conntrack: { Conntrack(handle: netlink) },
            shaper: { NodeShaper(netlink: netlink) },
            policy: { LivePolicyGate(netlink: netlink) })
    }
}

/// rtnetlink in one namespace, as the commands use it.
protocol LinkControl: AnyObject {
    func link(named name: String) throws -> Link?
    func link(index: Int32) throws -> Link?
    func links() throws -> [Link]
    func createBridge(name: String, mac: [UInt8], mtu: UInt32?) throws
    /// A veth pair, the host end on `master` (a bridge) or on no master (the routed datapath).
    func createVeth(hostName: String, master: Int32?, mtu: UInt32?, peerName: String, peerMAC: [UInt8]?, peer: PodSandbox) throws
    func setAlias(index: Int32, alias: String) throws
    func setLinkUp(index: Int32) throws
    /// Renames, resizes, brings up or down, or moves the link into the namespace open at `namespaceFD`.
    func changeLink(index: Int32, name: String?, mtu: UInt32?, namespaceFD: Int32?, up: Bool?, description: String) throws
    func setHairpin(index: Int32, on: Bool) throws
    func setPromiscuous(index: Int32, on: Bool) throws
    func deleteLink(index: Int32) throws
    /// Deletes `name`; false when there was no such link.
    @discardableResult func deleteLink(named name: String) throws -> Bool
    func addAddress(_ address: IPNetwork, index: Int32) throws
    func addresses(index: Int32) throws -> [IPNetwork]
    func addRoute(_ destination: IPNetwork, gateway: IPAddress?, index: Int32, table: UInt32?) throws
    func routes(family: IPAddress.Family) throws -> [Route]
    /// A policy-routing rule, added (EEXIST when present) or deleted (ENOENT when absent).
    func rule(add: Bool, from: IPNetwork?, to: IPNetwork?, table: UInt32, priority: UInt32) throws
    func addPermanentNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32) throws
    func proxyNeighbour(add: Bool, _ address: IPAddress, index: Int32) throws
}

extension LinkControl {
    /// Deletes `name`, a link derived for `attachment` (its host veth or IFB), only when it is the
    /// attachment's: its alias names it, or it has none (an ADD killed between creating the link and
    /// setting its alias). A link of that name with any other alias is someone else's (another plugin's
    /// veth, a hash collision) and stays. False when nothing was deleted.
    @discardableResult
    func deleteOwnedLink(named name: String, of attachment: AttachmentID) throws -> Bool {
        guard let link = try link(named: name) else { return false }
        if let alias = link.alias, !alias.isEmpty {
            guard let (owner, _) = AttachmentID.parseAlias(alias, network: attachment.network),
                owner.recordName == attachment.recordName
            else { return false }
        }
        do {
            try deleteLink(index: link.index)
        } catch let error as NetlinkError where error.isNoDevice {
            return false  // gone in between
        }
        return true
    }

    func changeLink(index: Int32, name: String?, mtu: UInt32?, namespaceFD: Int32? = nil, up: Bool?) throws {
        try changeLink(index: index, name: name, mtu: mtu, namespaceFD: namespaceFD, up: up, description: "")
    }

    func addRoute(_ destination: IPNetwork, gateway: IPAddress?, index: Int32) throws {
        try addRoute(destination, gateway: gateway, index: index, table: nil)
    }
}

/// The pod's network namespace: its path, rtnetlink inside it, and sysctls as it shows them.
protocol PodSandbox: AnyObject {
    var path: String { get }
    var links: LinkControl { get }
    /// The namespace's file descriptor, for creating a veth end inside it.
    var namespaceFD: Int32 { get }
    func writeSysctl(_ key: String, _ value: String, optional: Bool) throws
}

protocol SysctlControl {
    func write(_ key: String, _ value: String, optional: Bool) throws
    func read(_ key: String) -> String?
}

/// The IPAM store, as the commands use it (FileStore; a test wraps one to fail at will).
protocol AddressStore: AnyObject {
    func reserve(_ owner: AttachmentID, netns: String, ranges: [AddressRange], requested: [IPAddress]) throws -> Reservation
    @discardableResult func release(_ owner: AttachmentID) throws -> [IPAddress]
    func addresses(of owner: AttachmentID) throws -> [IPAddress]?
    func owners() throws -> [AttachmentID]
    func collectGarbage(keep: Set<String>) throws -> (released: [AttachmentID], failures: [String])
    func recordHostPorts(_ owner: AttachmentID, _ mappings: [PortMapping]) throws
    func recorded(_ owner: AttachmentID) throws -> RecordedAttachment?
    func recordUplink(_ owner: AttachmentID, _ device: String) throws
    func claimDevice(_ owner: AttachmentID, pool: [String], inspect: (String) throws -> UInt32?) throws -> DeviceClaim
    func hostPorts() throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]
    func isEmpty() throws -> Bool
    @discardableResult func adopt(_ owner: AttachmentID, addresses: [IPAddress]) throws -> Bool
    /// STATUS: the store takes writes, and how many addresses of a range are free.
    func checkWritable() throws
    func freeCount(in range: AddressRange) throws -> UInt64
}

extension FileStore: AddressStore {}

extension RouteNetlink: LinkControl {
    /// A veth pair, the host end on `master` (a bridge) or on no master (the routed datapath).
    func createVeth(hostName: String, master: Int32?, mtu: UInt32?, peerName: String, peerMAC: [UInt8]?, peer: PodSandbox) throws {
        try createVeth(
            hostName: hostName, master: master, mtu: mtu, peerName: peerName, peerMAC: peerMAC,
            peerNamespaceFD: peer.namespaceFD, peerDescription: peer.path)
    }
}

/// A pod namespace of the kernel's.
final class LivePod: PodSandbox {
    let namespace: NetworkNamespace
    let links: LinkControl

    var path: String { namespace.path }
    var namespaceFD: Int32 { namespace.fd }

    private init(_ namespace: NetworkNamespace) throws {
        self.namespace = namespace
        // The pod's own handle, its socket opened now rather than on first use: a namespace whose
        // socket cannot be opened fails `open`, which DEL and GC treat as "no pod left to clean",
        // instead of failing a later step they do not guard.
        let handle = NetlinkHandle(in: namespace)
        _ = try handle.route
        links = RouteNetlink(handle: handle)
    }

    /// CNI_NETNS, checked to be a namespace file other than the plugin's own before anything changes.
    static func open(_ path: String) throws -> PodSandbox {
        let namespace: NetworkNamespace
        do {
            namespace = try NetworkNamespace(path: path)
        } catch let error as SystemError {
            throw CNIError(
                .invalidEnvironment, "CNI_NETNS \"\(Validation.printable(path))\" is not a usable network namespace",
                details: error.description)
        }
        for (isHost, what) in [(namespace.isCurrentThreadNamespace, "the plugin's own"), (namespace.isInitNamespace, "the init process's")] where isHost {
            throw CNIError(
                .invalidEnvironment, "CNI_NETNS \"\(path)\" is \(what) network namespace",
                details: "refusing to configure the host as a pod")
        }
        return try LivePod(namespace)
    }

    /// /proc/sys shows the namespace of the thread reading it: enter the pod's for the write.
    func writeSysctl(_ key: String, _ value: String, optional: Bool) throws {
        try namespace.run { try Sysctl.write(key, value, optional: optional) }
    }
}

struct LiveSysctl: SysctlControl {
    func write(_ key: String, _ value: String, optional: Bool) throws { try Sysctl.write(key, value, optional: optional) }
    func read(_ key: String) -> String? { Sysctl.read(key) }
}
