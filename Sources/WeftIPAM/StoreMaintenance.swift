import FoundationEssentials
import WeftAddress
import WeftIdentity
import WeftSystem

/// What a record says an attachment holds.
public struct RecordedAttachment: Equatable, Sendable {
    public let addresses: [IPAddress]
    public let hostPorts: [PortMapping]
    public let uplink: String?
    /// The device datapath's interface (its name on the node) and its MTU there.
    public var device: String? = nil
    public var deviceMTU: UInt32? = nil
    /// The netns path the runtime gave at ADD.
    public var netns: String = ""
}

/// One reservation as `weftctl ipam ls` shows it.
public struct ReservationInfo: Sendable, Equatable, Codable {
    public let containerID: String
    public let ifname: String
    public let addresses: [String]
    public let netns: String
    public let created: Int
    public let state: String
}

extension FileStore {
    /// Every attachment with a record in the store. A shortened container key is expanded from the record.
    public func owners() throws -> [AttachmentID] {
        try PosixFiles.list(ownersDirectory).compactMap { name in
            guard let (key, ifname) = AttachmentID.parseRecordName(name) else { return nil }
            var containerID = key
            if key.contains("~"), let record = try PosixFiles.read("\(ownersDirectory)/\(name)").map(OwnerRecord.init(text:)),
                !record.containerID.isEmpty
            {
                containerID = record.containerID
            }
            return AttachmentID(network: network, containerID: containerID, ifname: ifname)
        }
    }

    /// Every reservation with whether its namespace still exists.
    public func list() throws -> [ReservationInfo] {
        guard PosixFiles.exists(directory) else { return [] }
        return try withLock {
            return try owners().sorted { $0.recordName < $1.recordName }.compactMap { owner in
                guard let record = try readOwner(owner) else { return nil }
                return ReservationInfo(
                    containerID: owner.containerID, ifname: owner.ifname,
                    addresses: record.addresses.map(\.description), netns: record.netns, created: record.created,
                    state: NamespaceIdentity.liveness(path: record.netns, recordedID: record.netnsID).rawValue)
            }
        }
    }

    /// Releases every reservation whose namespace is gone (deleted without a DEL); with `dryRun`, only names them.
    @discardableResult
    public func reclaimStale(dryRun: Bool = false) throws -> [AttachmentID] {
        guard PosixFiles.exists(directory) else { return [] }
        return try withLock {
            return try reclaimStaleLocked(dryRun: dryRun)
        }
    }

    func reclaimStaleLocked(dryRun: Bool = false) throws -> [AttachmentID] {
        if !dryRun { try removeOrphanedTemporaries() }
        var reclaimed: [AttachmentID] = []
        for owner in try owners() {
            guard let record = try readOwner(owner),
                NamespaceIdentity.liveness(path: record.netns, recordedID: record.netnsID) == .gone
            else { continue }
            if !dryRun { try releaseLocked(owner) }
            reclaimed.append(owner)
        }
        return reclaimed
    }

    /// Releases every reservation whose owner is not in `keep`. Keeps going past failures and returns them all.
    public func collectGarbage(keep: Set<String>) throws -> (released: [AttachmentID], failures: [String]) {
        guard PosixFiles.exists(directory) else { return ([], []) }
        return try withLock {
            var released: [AttachmentID] = []
            var failures: [String] = []
            try removeOrphanedTemporaries()
            for owner in try owners() where !keep.contains(owner.recordName) {
                do {
                    try releaseLocked(owner)
                    released.append(owner)
                } catch {
                    failures.append("\(owner): \(error)")
                }
            }
            return (released, failures)
        }
    }

    /// Records the hostPorts an attachment holds, so a lost nftables table can be refilled from the store.
    public func recordHostPorts(_ owner: AttachmentID, _ mappings: [PortMapping]) throws {
        try withLock {
            guard var record = try readOwner(owner) else { return }
            record.hostPorts = mappings
            try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
        }
    }

    /// What the attachment's record says it holds (addresses, hostPorts, uplink, device), or nil without a record.
    /// Read without the lock: records are replaced atomically (rename), so a reader sees one whole version.
    public func recorded(_ owner: AttachmentID) throws -> RecordedAttachment? {
        try readOwner(owner).map {
            RecordedAttachment(
                addresses: $0.addresses, hostPorts: $0.hostPorts, uplink: $0.uplink, device: $0.device,
                deviceMTU: $0.deviceMTU, netns: $0.netns)
        }
    }

    /// Records the uplink a routed attachment's rules and proxy entries are on, for DEL.
    public func recordUplink(_ owner: AttachmentID, _ device: String) throws {
        try withLock {
            guard var record = try readOwner(owner) else { return }
            record.uplink = device
            try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
        }
    }

    /// Every attachment with hostPorts: who, its addresses, its mappings.
    public func hostPorts() throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])] {
        try owners().compactMap { owner in
            guard let record = try readOwner(owner), !record.hostPorts.isEmpty else { return nil }
            return (owner, record.addresses, record.hostPorts)
        }
    }

    /// Whether the store holds no reservation at all (new, emptied, or wiped).
    public func isEmpty() throws -> Bool {
        try !PosixFiles.hasEntries(ownersDirectory)
    }

    /// Records a reservation found elsewhere (on the node's links after the store was wiped) unless the
    /// owner or an address already has one. Returns whether it was recorded.
    @discardableResult
    public func adopt(_ owner: AttachmentID, addresses: [IPAddress]) throws -> Bool {
        return try withLock {
            guard try readOwner(owner) == nil, !addresses.contains(where: { PosixFiles.exists(addressPath($0)) }) else { return false }
            let record = OwnerRecord(containerID: "", netns: "", netnsID: "", created: clock(), addresses: addresses)
            try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
            for address in addresses {
                _ = try PosixFiles.publishExclusive(HolderRecord.text(owner), at: addressPath(address))
            }
            for name in try PosixFiles.list(directory) where name.hasPrefix("bitmap-") {
                try PosixFiles.remove("\(directory)/\(name)")
            }
            return true
        }
    }

    /// How many addresses of `range` are free, for STATUS.
    public func freeCount(in range: AddressRange) throws -> UInt64 {
        let held = UInt64(try heldAddresses().filter { range.contains($0) && $0 != range.gateway }.count)
        let gatewayInside: UInt64 = range.contains(range.gateway) ? 1 : 0
        return range.count - min(range.count, held + gatewayInside)
    }

    /// Takes over a host-local store (flannel's `/var/lib/cni/networks/<name>`): every address file
    /// there (named by the address, holding `containerID` and optionally `ifname`) becomes a reservation
    /// here, so no address it holds is handed out again. Returns how many were imported.
    public func importHostLocal(from source: String) throws -> Int {
        return try withLock {
            var grouped: [AttachmentID: [IPAddress]] = [:]
            for name in try PosixFiles.list(source) {
                guard let address = IPAddress(name) else { continue }
                let text = try PosixFiles.read("\(source)/\(name)") ?? ""
                // An empty file is host-local's crash leftover (plugins#498): keep the address held, owned by a placeholder.
                let owner =
                    HolderRecord.owner(from: text, network: network).map {
                        AttachmentID(network: network, containerID: $0.containerID, ifname: $0.ifname.isEmpty ? "eth0" : $0.ifname)
                    }
                    ?? AttachmentID(
                        network: network, containerID: "imported-" + name.split(separator: ":", omittingEmptySubsequences: false).joined(separator: "-"),
                        ifname: "unknown")
                grouped[owner, default: []].append(address)
            }
            var imported = 0
            for (owner, addresses) in grouped.sorted(by: { $0.key.recordName < $1.key.recordName }) {
                var record = try readOwner(owner) ?? OwnerRecord(containerID: owner.containerID, netns: "", netnsID: "", created: clock(), addresses: [])
                for address in addresses where !PosixFiles.exists(addressPath(address)) {
                    record.addresses.append(address)
                    try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
                    _ = try PosixFiles.publishExclusive(HolderRecord.text(owner), at: addressPath(address))
                    imported += 1
                }
            }
            // The bitmaps are caches of the address files: drop them so the next reservation rebuilds them.
            for name in try PosixFiles.list(directory) where name.hasPrefix("bitmap-") {
                try PosixFiles.remove("\(directory)/\(name)")
            }
            return imported
        }
    }

    /// Every write goes to a `.tmp-*` file first (DurableFile) and is renamed or linked into place under the lock, so
    /// with the lock held any temporary file left is a killed writer's: remove them (GC, reclaim).
    func removeOrphanedTemporaries() throws {
        // devices/ only exists on a device-datapath node: list() reads a missing directory as empty.
        for directory in [directory, ownersDirectory, addressesDirectory, devicesDirectory] {
            for name in try PosixFiles.list(directory) where DurableFile.isTemporary(name) {
                try PosixFiles.remove("\(directory)/\(name)")
            }
        }
    }
}
