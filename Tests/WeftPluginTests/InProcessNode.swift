import Foundation
import Synchronization
import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink
import WeftSystem
@testable import WeftPlugin

/// A node made of values, for running the commands in-process without root: links in memory, a real
/// FileStore in a temporary directory, a firewall that records, and a log of every change in order.
/// `failAt` makes the named operation throw, as the kernel or the disk would.
final class InProcessNode {
    struct Failure: Error, CustomStringConvertible { let step: String; var description: String { "injected failure at \(step)" } }

    var log: [String] = []
    var failAt: String?
    /// A second step that fails, for an undo failing after `failAt` made ADD roll back.
    var failAlso: String?
    /// What the plugin reported without failing (its stderr in the field).
    var reports: [String] = []
    /// What the failing step throws: by default a system call refused, as /proc/sys or the disk would.
    var failure: Error?
    let directory: String
    let nodeLinks: FakeLinks
    let podLinks: FakeLinks
    let pod: FakePod
    var firewallElements: [String: [PortMapping]] = [:]
    var ifbs: Set<String> = []

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-inprocess-\(UUID().uuidString.prefix(8))").path
        nodeLinks = FakeLinks(label: "node")
        podLinks = FakeLinks(label: "pod")
        pod = FakePod(path: "/var/run/netns/fake-pod", links: podLinks)
        nodeLinks.owner = self
        podLinks.owner = self
        pod.owner = self
        _ = try? podLinks.add(Link(index: 1, name: "lo", kind: nil))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// DEL's teardown runs the links and the firewall on two threads at once.
    private let lock = NSLock()

    /// Records `step` and throws when it is the one to fail.
    func step(_ step: String) throws {
        lock.lock()
        defer { lock.unlock() }
        if [failAt, failAlso].contains(where: { $0.map(step.hasPrefix) == true }) {
            log.append("FAILED " + step)
            throw failure ?? SystemError("write", step, errno: EACCES)
        }
        log.append(step)
    }

    var node: Node {
        Node(
            links: { self.nodeLinks },
            openPod: { path in
                guard path == self.pod.path else { throw SystemError("open", path, errno: ENOENT) }
                return self.pod
            },
            sysctl: FakeSysctl(owner: self),
            store: { dataDir, network in FailingStore(FileStore(dataDir: dataDir, network: network, clock: { 1_700_000_000 }), owner: self) },
            firewall: { FakeFirewall(owner: self) },
            conntrack: { FakeConntrack(owner: self) },
            shaper: { FakeShaper(owner: self) },
            policy: { FakePolicyGate(owner: self) },
            report: { self.reports.append($0) })
    }

    var dataDir: String { "\(directory)/ipam" }
    /// What weftd answers an attach: nil when the verdicts are installed, else why not.
    var weftdProblem: String?
    /// Who each attach was for.
    var attachedPods: [PolicyPodIdentity] = []
}

/// weftd's socket and the isolation table, as log lines.
struct FakePolicyGate: PolicyGate {
    let owner: InProcessNode

    func attach(socket: String, pod: PolicyPodIdentity, addresses: [IPAddress]) -> String? {
        owner.log.append("policy: attach \(pod.namespace)/\(pod.name) \(addresses.map(\.description).joined(separator: ",")) at \(socket)")
        owner.attachedPods.append(pod)
        return owner.weftdProblem
    }

    func release(socket: String, sandbox: String, addresses: [IPAddress]) throws {
        try owner.step("policy: release \(addresses.map(\.description).joined(separator: ","))")
    }

    func isolate(_ addresses: [IPAddress]) throws {
        try owner.step("policy: isolate \(addresses.map(\.description).joined(separator: ","))")
    }

    func unisolate(_ addresses: [IPAddress]) throws {
        try owner.step("policy: unisolate \(addresses.map(\.description).joined(separator: ","))")
    }
}

final class FakeLinks: LinkControl {
    let label: String
    weak var owner: InProcessNode?
    var byIndex: [Int32: Link] = [:]
    var addressesByIndex: [Int32: [IPNetwork]] = [:]
    var routesAdded: [IPNetwork] = []
    /// Link indexes unique across the tests that run in parallel, as the kernel's are per namespace.
    static let lastIndex = Atomic<Int32>(100)

    init(label: String) { self.label = label }

    func step(_ text: String) throws { try owner?.step("\(label): \(text)") }

    @discardableResult
    func add(_ link: Link) throws -> Link { byIndex[link.index] = link; return link }

    func replace(_ index: Int32, _ change: (Link) -> Link) { if let link = byIndex[index] { byIndex[index] = change(link) } }

    func link(named name: String) throws -> Link? { byIndex.values.first { $0.name == name } }
    func link(index: Int32) throws -> Link? { byIndex[index] }
    func links() throws -> [Link] { byIndex.values.sorted { $0.index < $1.index } }

    func createBridge(name: String, mac: [UInt8], mtu: UInt32?) throws {
        try step("create bridge \(name)")
        let index = FakeLinks.lastIndex.add(1, ordering: .relaxed).newValue
        try add(Link(index: index, name: name, mac: mac, kind: "bridge"))
    }

    func createVeth(hostName: String, master: Int32?, mtu: UInt32?, peerName: String, peerMAC: [UInt8]?, peer: PodSandbox) throws {
        try step("create veth \(hostName)")
        guard let pod = peer as? FakePod else { throw Failure() }
        let podIndex = FakeLinks.lastIndex.add(2, ordering: .relaxed).newValue, hostIndex = podIndex - 1
        try add(Link(index: hostIndex, name: hostName, masterIndex: master, mac: [2, 0, 0, 0, 0, 1], kind: "veth", peerIndex: podIndex))
        try pod.fakeLinks.add(Link(index: podIndex, name: peerName, mac: peerMAC ?? [], kind: "veth", peerIndex: hostIndex))
    }

    func setAlias(index: Int32, alias: String) throws {
        try step("set alias")
        replace(index) {
            Link(
                index: $0.index, name: $0.name, flags: $0.flags, masterIndex: $0.masterIndex, mac: $0.mac, kind: $0.kind, alias: alias, peerIndex: $0.peerIndex)
        }
    }
    func setLinkUp(index: Int32) throws { try step("set up \(byIndex[index]?.name ?? "?")") }
    func changeLink(index: Int32, name: String?, mtu: UInt32?, namespaceFD: Int32?, up: Bool?, description: String) throws {
        try step("change \(byIndex[index]?.name ?? "?")")
    }
    func setHairpin(index: Int32, on: Bool) throws { try step("set hairpin") }
    func setPromiscuous(index: Int32, on: Bool) throws { try step("set promiscuous") }
    /// A veth's peer goes with it, as in the kernel.
    func deleteLink(index: Int32) throws {
        let link = byIndex[index]
        try step("delete link \(link?.name ?? "?")")
        byIndex[index] = nil
        if let link, link.kind == "veth", let pod = owner?.pod { pod.fakeLinks.byIndex[link.peerIndex] = nil }
    }
    func deleteLink(named name: String) throws -> Bool {
        guard let link = try link(named: name) else { return false }
        try deleteLink(index: link.index)
        return true
    }
    func addAddress(_ address: IPNetwork, index: Int32) throws {
        try step("add address \(address)")
        addressesByIndex[index, default: []].append(address)
    }
    func addresses(index: Int32) throws -> [IPNetwork] { addressesByIndex[index] ?? [] }
    func addRoute(_ destination: IPNetwork, gateway: IPAddress?, index: Int32, table: UInt32?) throws {
        try step("add route \(destination)")
        routesAdded.append(destination)
    }
    func rule(add: Bool, from: IPNetwork?, to: IPNetwork?, table: UInt32, priority: UInt32) throws {
        try step("\(add ? "add" : "delete") rule \(priority)")
    }
    func addPermanentNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32) throws { try step("add neighbour \(address)") }
    func proxyNeighbour(add: Bool, _ address: IPAddress, index: Int32) throws { try step("\(add ? "add" : "delete") proxy \(address)") }
    func routes(family: IPAddress.Family) throws -> [Route] { [] }

    struct Failure: Error {}
}

final class FakePod: PodSandbox {
    let path: String
    let fakeLinks: FakeLinks
    weak var owner: InProcessNode?
    var links: LinkControl { fakeLinks }
    var namespaceFD: Int32 { -1 }

    init(path: String, links: FakeLinks) { self.path = path; fakeLinks = links }

    func writeSysctl(_ key: String, _ value: String, optional: Bool) throws { try owner?.step("pod sysctl \(key)") }
}

struct FakeSysctl: SysctlControl {
    unowned let owner: InProcessNode
    func write(_ key: String, _ value: String, optional: Bool) throws { try owner.step("sysctl \(key)") }
    /// ip_forward already on; br_netfilter's switches off, as on a node nobody prepared.
    func read(_ key: String) -> String? { key.hasPrefix("net/bridge/") ? "0" : "1" }
}

/// A real FileStore whose operations are logged and may be made to fail.
final class FailingStore: AddressStore {
    let store: FileStore
    unowned let owner: InProcessNode
    init(_ store: FileStore, owner: InProcessNode) { self.store = store; self.owner = owner }

    func reserve(_ id: AttachmentID, netns: String, ranges: [AddressRange], requested: [IPAddress]) throws -> Reservation {
        try owner.step("store: reserve")
        return try store.reserve(id, netns: netns, ranges: ranges, requested: requested)
    }
    func release(_ id: AttachmentID) throws -> [IPAddress] {
        try owner.step("store: release")
        return try store.release(id)
    }
    func addresses(of id: AttachmentID) throws -> [IPAddress]? { try store.addresses(of: id) }
    func owners() throws -> [AttachmentID] { try store.owners() }
    func checkWritable() throws {
        try owner.step("store: check writable")
        try store.checkWritable()
    }
    func freeCount(in range: AddressRange) throws -> UInt64 { try store.freeCount(in: range) }
    func collectGarbage(keep: Set<String>) throws -> (released: [AttachmentID], failures: [String]) {
        try owner.step("store: collect garbage")
        return try store.collectGarbage(keep: keep)
    }
    func recorded(_ id: AttachmentID) throws -> RecordedAttachment? { try store.recorded(id) }
    func claimDevice(_ id: AttachmentID, pool: [String], inspect: (String) throws -> UInt32?) throws -> DeviceClaim {
        try owner.step("store: claim device")
        return try store.claimDevice(id, pool: pool, inspect: inspect)
    }
    func recordUplink(_ id: AttachmentID, _ device: String) throws {
        try owner.step("store: record uplink")
        try store.recordUplink(id, device)
    }
    func recordHostPorts(_ id: AttachmentID, _ mappings: [PortMapping]) throws {
        try owner.step("store: record hostPorts")
        try store.recordHostPorts(id, mappings)
    }
    func hostPorts() throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])] { try store.hostPorts() }
    func isEmpty() throws -> Bool { try store.isEmpty() }
    func adopt(_ id: AttachmentID, addresses: [IPAddress]) throws -> Bool { try store.adopt(id, addresses: addresses) }
}

/// DEL runs it beside the link removal (Overlap): it touches only `firewallElements`, which nothing on
/// the link side reads, and logs through `step`'s lock.
struct FakeFirewall: Firewall {
    unowned let owner: InProcessNode
    func commit(
        _ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID,
        restoring: () throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]
    ) throws {
        try owner.step("firewall: commit")
        owner.firewallElements[attachment.elementTag] = plan.portMappings
    }
    /// Like the kernel's, the pod addresses of the UDP hostPorts removed, whose flows the caller deletes.
    func remove(_ attachment: AttachmentID, recorded: RecordedHostPorts?) throws -> Set<IPAddress> {
        guard let mappings = owner.firewallElements[attachment.elementTag] else { return [] }
        try owner.step("firewall: remove")
        owner.firewallElements[attachment.elementTag] = nil
        return mappings.contains { $0.proto == .udp } ? Set(recorded?.addresses ?? []) : []
    }
    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID) throws -> [String] { [] }
    func collectGarbage(network: String, keep: Set<String>) throws {
        try owner.step("firewall: collect garbage")
        owner.firewallElements = owner.firewallElements.filter { keep.contains($0.key) }
    }
}

/// Flows are kernel state the in-process node does not model: the calls are logged, nothing is kept.
struct FakeConntrack: ConnectionTracking {
    unowned let owner: InProcessNode
    func deleteFlows(naming addresses: Set<IPAddress>) throws -> Int {
        try owner.step("conntrack: delete flows")
        return 0
    }
    func deleteUDP(toPorts ports: Set<UInt16>, addresses: Set<IPAddress>) throws -> Int {
        try owner.step(ports.isEmpty ? "conntrack: delete udp flows of pod" : "conntrack: delete udp flows to hostPorts")
        return 0
    }
}

struct FakeShaper: Shaper {
    unowned let owner: InProcessNode
    func apply(
        _ limits: BandwidthLimits, hostVethIndex: Int32, attachment: AttachmentID, alias: String, mtu: UInt32?,
        onIFBCreated: () -> Void
    ) throws {
        if limits.ingress != nil { try owner.step("shaper: shape host veth") }
        guard limits.egress != nil else { return }
        try owner.step("shaper: create ifb")
        owner.ifbs.insert(attachment.ifbName)
        onIFBCreated()
        try owner.step("shaper: shape ifb")
    }
    func remove(_ attachment: AttachmentID) throws {
        guard owner.ifbs.remove(attachment.ifbName) != nil else { return }
        try owner.step("shaper: remove ifb")
    }
    func problems(_ limits: BandwidthLimits?, hostVethIndex: Int32, attachment: AttachmentID) throws -> [String] { [] }
}
