import WeftAddress
import WeftIdentity

/// Each host veth carries an alias naming its attachment and addresses (AttachmentID.alias), so a store
/// wiped while pods run (a tmpfs remounted, a directory removed) is rebuilt from the node before any
/// address is handed out: a live pod's address is never given twice.
enum StoreRecovery {
    /// The attachment and addresses a link's alias names, when it is one of `network`'s.
    static func parse(_ alias: String, network: String) -> (AttachmentID, [IPAddress])? {
        guard let (attachment, texts) = AttachmentID.parseAlias(alias, network: network) else { return nil }
        let addresses = texts.compactMap(IPAddress.init)
        return addresses.isEmpty ? nil : (attachment, addresses)
    }

    /// When the store is empty, adopts every attachment the node's links still describe. Returns how many.
    @discardableResult
    static func recoverIfEmpty(_ store: AddressStore, network: String, links: LinkControl) throws -> Int {
        guard try store.isEmpty() else { return 0 }
        var adopted = 0
        for link in try links.links() where link.kind == "veth" {
            guard let alias = link.alias, let (owner, addresses) = parse(alias, network: network) else { continue }
            if try store.adopt(owner, addresses: addresses) { adopted += 1 }
        }
        return adopted
    }
}
