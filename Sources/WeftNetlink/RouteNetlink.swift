import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// rtnetlink operations in one network namespace: a view of its handle's NETLINK_ROUTE socket.
public final class RouteNetlink {
    public let handle: NetlinkHandle
    private var connection: NetlinkSocket { get throws { try handle.route } }

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    /// Over one transport (a test's replayed bytes).
    public convenience init(transport: NetlinkTransport) {
        self.init(handle: NetlinkHandle(route: transport))
    }

    // MARK: links

    /// The link named `name`, or nil when there is none.
    public func link(named name: String) throws -> Link? {
        do {
            return try connection.execute(RouteRequests.getLink(name: name), operation: "get link \(name)")
                .lazy.compactMap { Link(payload: $0.payload) }.first
        } catch let error as NetlinkError where error.isNoDevice {
            return nil
        }
    }

    public func link(index: Int32) throws -> Link? {
        do {
            return try connection.execute(RouteRequests.getLink(index: index), operation: "get link \(index)")
                .lazy.compactMap { Link(payload: $0.payload) }.first
        } catch let error as NetlinkError where error.isNoDevice {
            return nil
        }
    }

    public func createBridge(name: String, mac: [UInt8], mtu: UInt32?) throws {
        try connection.execute(RouteRequests.createBridge(name: name, mac: mac, mtu: mtu), operation: "create bridge \(name)")
    }

    /// Every link of the namespace.
    public func links() throws -> [Link] {
        try connection.execute(RouteRequests.dumpLinks(), operation: "list links").compactMap { Link(payload: $0.payload) }
    }

    /// A veth pair whose peer is born in the namespace open at `peerNamespaceFD` (described for messages).
    public func createVeth(
        hostName: String, master: Int32?, mtu: UInt32?, peerName: String, peerMAC: [UInt8]?,
        peerNamespaceFD: Int32, peerDescription: String
    ) throws {
        let request = RouteRequests.createVeth(
            hostName: hostName, master: master, mtu: mtu, peerName: peerName,
            peerMAC: peerMAC, peerNamespaceFD: peerNamespaceFD)
        try connection.execute(request, operation: "create veth \(hostName) with peer \(peerName) in \(peerDescription)")
    }

    public func setAlias(index: Int32, alias: String) throws {
        try connection.execute(RouteRequests.setAlias(index: index, alias: alias), operation: "set alias of link \(index)")
    }

    /// Renames, resizes, brings down or moves link `index` into the namespace open at `namespaceFD`
    /// (RouteRequests.changeLink).
    public func changeLink(
        index: Int32, name: String? = nil, mtu: UInt32? = nil, namespaceFD: Int32? = nil, up: Bool? = nil,
        description: String = ""
    ) throws {
        let what = [
            name.map { "name \($0)" }, mtu.map { "mtu \($0)" }, namespaceFD.map { _ in "into \(description.isEmpty ? "another namespace" : description)" },
            up.map { $0 ? "up" : "down" },
        ]
        .compactMap { $0 }.joined(separator: ", ")
        try connection.execute(
            RouteRequests.changeLink(index: index, name: name, mtu: mtu, namespaceFD: namespaceFD, up: up),
            operation: "change link \(index): \(what)")
    }

    public func setLinkUp(index: Int32) throws {
        try connection.execute(RouteRequests.setLinkUp(index: index), operation: "set link \(index) up")
    }

    public func setPromiscuous(index: Int32, on: Bool) throws {
        try connection.execute(RouteRequests.setPromiscuous(index: index, on: on), operation: "set promiscuous mode on link \(index)")
    }

    public func setHairpin(index: Int32, on: Bool) throws {
        try connection.execute(RouteRequests.setHairpin(index: index, on: on), operation: "set hairpin on link \(index)")
    }

    public func deleteLink(index: Int32) throws {
        try connection.execute(RouteRequests.deleteLink(index: index), operation: "delete link \(index)")
    }

    /// Deletes `name`; returns false when there was no such link.
    @discardableResult
    public func deleteLink(named name: String) throws -> Bool {
        do {
            try connection.execute(RouteRequests.deleteLink(name: name), operation: "delete link \(name)")
            return true
        } catch let error as NetlinkError where error.isNoDevice {
            return false
        }
    }

    // MARK: addresses

    public func addAddress(_ address: IPNetwork, index: Int32) throws {
        try connection.execute(RouteRequests.addAddress(address, index: index), operation: "add address \(address) to link \(index)")
    }

    public func addresses(index: Int32) throws -> [IPNetwork] {
        // Filtered by the kernel (strict dumps); filtered again here for transports that do not.
        try connection.execute(RouteRequests.dumpAddresses(family: nil, index: index), operation: "list addresses")
            .compactMap { InterfaceAddress(payload: $0.payload) }
            .filter { $0.index == index }
            .map(\.address)
    }

    // MARK: routes

    public func addRoute(_ destination: IPNetwork, gateway: IPAddress?, index: Int32, table: UInt32? = nil) throws {
        let via = gateway.map { " via \($0)" } ?? ""
        let inTable = table.map { " table \($0)" } ?? ""
        try connection.execute(
            RouteRequests.addRoute(destination, gateway: gateway, index: index, table: table),
            operation: "add route \(destination)\(via)\(inTable)")
    }

    // MARK: rules and neighbours

    /// A policy-routing rule, added (EEXIST when present) or deleted (ENOENT when absent).
    public func rule(add: Bool, from: IPNetwork?, to: IPNetwork?, table: UInt32, priority: UInt32) throws {
        let selector = [from.map { "from \($0)" }, to.map { "to \($0)" }].compactMap { $0 }.joined(separator: " ")
        try connection.execute(
            PolicyRequests.rule(add: add, from: from, to: to, table: table, priority: priority),
            operation: "\(add ? "add" : "delete") rule \(selector) lookup \(table) priority \(priority)")
    }

    public func addPermanentNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32) throws {
        try connection.execute(
            PolicyRequests.permanentNeighbour(address, mac: mac, index: index),
            operation: "add neighbour \(address) on link \(index)")
    }

    public func proxyNeighbour(add: Bool, _ address: IPAddress, index: Int32) throws {
        try connection.execute(
            PolicyRequests.proxyNeighbour(add: add, address, index: index),
            operation: "\(add ? "add" : "delete") proxy neighbour \(address) on link \(index)")
    }

    /// The main table's routes of one family.
    public func routes(family: IPAddress.Family) throws -> [Route] {
        try connection.execute(RouteRequests.dumpRoutes(family: family), operation: "list routes")
            .compactMap { Route(payload: $0.payload) }
            .filter { $0.table == UInt32(RT_TABLE_MAIN.rawValue) }
    }
}
