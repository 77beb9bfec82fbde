import WeftAddress
import WeftIPAM
import WeftNetlink

/// Each host veth carries an alias naming its attachment and addresses ("weft <network> <containerID>
/// <ifname> <address>,…"), so a store wiped while pods run (a tmpfs remounted, a directory removed) is
/// rebuilt from the node before any address is handed out: a live pod's address is never given twice.
enum StoreRecovery {
    static func alias(network: String, owner: Owner, addresses: [IPAddress]) -> String {
        "weft \(network) \(owner.containerID) \(owner.ifname) \(addresses.map(\.description).joined(separator: ","))"
    }

    static func parse(_ alias: String, network: String) -> (Owner, [IPAddress])? {
        let fields = alias.split(separator: " ").map(String.init)
        guard fields.count == 5, fields[0] == "weft", fields[1] == network else { return nil }
        let addresses = fields[4].split(separator: ",").compactMap { IPAddress(String($0)) }
        guard !addresses.isEmpty else { return nil }
        return (Owner(containerID: fields[2], ifname: fields[3]), addresses)
    }

    /// When the store is empty, adopts every attachment the node's links still describe. Returns how many.
    @discardableResult
    static func recoverIfEmpty(_ store: FileStore, network: String, node: RouteNetlink) throws -> Int {
        guard try store.isEmpty() else { return 0 }
        var adopted = 0
        for link in try node.links() where link.kind == "veth" {
            guard let alias = link.alias, let (owner, addresses) = parse(alias, network: network) else { continue }
            if try store.adopt(owner, addresses: addresses) { adopted += 1 }
        }
        return adopted
    }
}
