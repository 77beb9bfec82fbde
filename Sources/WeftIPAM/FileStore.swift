import FoundationEssentials
import WeftAddress
import WeftIdentity
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// What `reserve` gives: the attachment's addresses, and the attachments released to make room.
public struct Reservation: Equatable, Sendable {
    public let addresses: [IPAddress]
    public let reclaimed: [AttachmentID]
}

/// The reservations of one network, as files under `<dataDir>/<network>/`:
///   `lock`              flock'd around every change
///   `owners/<key>:<if>` the attachment's record: its full identity, netns, when, addresses (written
///                       first); named by AttachmentID.recordName, at most 80 bytes for any valid ID
///   `ips/<address>`     the address's holder: container ID and ifname (written second)
///   `devices/<name>`    the device datapath's node interface <name>: its holder, as an address file
///   `bitmap-…`          per range, a cache of which addresses are held
///   `last-v4`, `last-v6` where the round-robin search resumes
///   `boot-id`           on disk only: the boot the records belong to
/// The owner record is published before the address files, so a crash between the two leaves a
/// record that names everything a release must remove: nothing is ever unowned.
public final class FileStore {
    public let network: String
    public let directory: String
    public let medium: StoreMedium
    let lockTimeout: Double
    let bootID: String
    /// Seconds since the epoch, for records' creation time.
    let clock: () -> Int

    /// - Parameter bootID: this boot's ID; tests pass their own to simulate a reboot.
    public init(
        dataDir: String, network: String, lockTimeout: Double = 10, bootID: String? = nil,
        clock: @escaping () -> Int = { Int(Date().timeIntervalSince1970) }
    ) {
        self.clock = clock
        self.network = network
        directory = "\(dataDir)/\(network)"
        medium = StoreMedium.of(dataDir)
        self.lockTimeout = FaultInjection.lockTimeout ?? lockTimeout
        self.bootID = bootID ?? StoreMedium.currentBootID()
    }

    var ownersDirectory: String { "\(directory)/owners" }
    var addressesDirectory: String { "\(directory)/ips" }

    /// Runs `body` holding the store's lock.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        let lock = try self.lock()
        defer { withExtendedLifetime(lock) {} }
        return try body()
    }

    /// Creates the directories, takes the lock, and drops records left by an earlier boot.
    func lock() throws -> StoreLock {
        try PosixFiles.makeDirectory(ownersDirectory)
        try PosixFiles.makeDirectory(addressesDirectory)
        let lock = try StoreLock(path: "\(directory)/lock", timeoutSeconds: lockTimeout)
        if medium == .disk { try dropEarlierBoot() }
        return lock
    }

    /// Reserves one address in each range for `owner` — `requested` ones exactly when given — and
    /// returns what it already holds when it holds something (a repeated ADD). When a range looked full,
    /// reservations whose namespace is gone were released to make room: the caller must remove
    /// everything else those attachments had (veth, hostPorts) before the address is used again.
    public func reserve(_ owner: AttachmentID, netns: String, ranges: [AddressRange], requested: [IPAddress] = []) throws -> Reservation {
        return try withLock {
            if let held = try readOwner(owner), !held.addresses.isEmpty {
                if let missing = requested.first(where: { !held.addresses.contains($0) }) {
                    throw IPAMError.requestedUnavailable(missing, reason: "\(owner) already holds \(held.addresses.map(\.description).joined(separator: ", "))")
                }
                return Reservation(addresses: held.addresses, reclaimed: [])
            }
            if let stray = requested.first(where: { address in !ranges.contains { $0.family == address.family } }) {
                throw IPAMError.requestedUnavailable(stray, reason: "no range of its address family")
            }
            var chosen: [IPAddress] = []
            var bitmaps: [AddressBitmap] = []
            var reclaimed: [AttachmentID] = []
            for range in ranges {
                if let wanted = requested.first(where: { $0.family == range.family }) {
                    try checkRequested(wanted, in: range)
                    chosen.append(wanted)
                } else {
                    let (address, bitmap) = try choose(in: range, reclaimed: &reclaimed)
                    chosen.append(address)
                    if let bitmap { bitmaps.append(bitmap) }
                }
            }
            let record = OwnerRecord(
                containerID: owner.containerID, netns: netns, netnsID: NamespaceIdentity.of(netns),
                created: clock(), addresses: chosen)
            try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
            FaultInjection.point("reserve-after-owner-record")
            do {
                for address in chosen {
                    guard try PosixFiles.publishExclusive(HolderRecord.text(owner), at: addressPath(address)) else {
                        // Only a writer that ignored the lock could get here.
                        throw IPAMError.addressTaken(address, owner: holder(of: address)?.description ?? "unknown")
                    }
                }
            } catch {
                // A full or failing store: take back the record (and any address file) so nothing is left half made.
                _ = try? releaseLocked(owner)
                throw error
            }
            FaultInjection.point("reserve-after-address-files")
            for address in chosen {
                for bitmap in bitmaps { try bitmap.set(address, true) }
                // Only the search's own picks move where it resumes; a requested address is not part of the sequence.
                if !requested.contains(address) {
                    try PosixFiles.publishReplacing(address.description, at: lastPath(address.family))
                }
            }
            FaultInjection.point("reserve-done")
            return Reservation(addresses: chosen, reclaimed: reclaimed)
        }
    }

    private func checkRequested(_ address: IPAddress, in range: AddressRange) throws {
        guard range.contains(address) else {
            throw IPAMError.requestedUnavailable(address, reason: "outside \(range)")
        }
        guard address != range.gateway else {
            throw IPAMError.requestedUnavailable(address, reason: "it is the gateway")
        }
        if let holder = holder(of: address) {
            throw IPAMError.requestedUnavailable(address, reason: "held by \(holder)")
        } else if PosixFiles.exists(addressPath(address)) {
            throw IPAMError.requestedUnavailable(address, reason: "held by an unknown container")
        }
    }

    /// A free address of `range`: from the bitmap for ranges up to 2^24 addresses, by probing otherwise.
    /// When the range looks full, the bitmap is rebuilt from the records, then reservations whose
    /// namespace is gone are reclaimed, before giving up.
    private func choose(in range: AddressRange, reclaimed stale: inout [AttachmentID]) throws -> (IPAddress, AddressBitmap?) {
        let last = try PosixFiles.read(lastPath(range.family)).flatMap { IPAddress(String($0.split(separator: "\n").first ?? "")) }
        let bitmap = try AddressBitmap(range: range, directory: directory, held: { try self.heldAddresses() })
        var reclaimed = 0
        for attempt in 0..<3 {
            if let bitmap {
                var start: UInt64 = 0
                if let last, let offset = bitmap.offset(of: last) { start = offset + 1 }
                while let offset = Allocator.nextClearBit(in: bitmap.words, count: bitmap.count, from: start),
                    let candidate = bitmap.address(at: offset)
                {
                    if candidate != range.gateway && !PosixFiles.exists(addressPath(candidate)) { return (candidate, bitmap) }
                    try bitmap.set(candidate, true)
                    start = offset + 1
                }
            } else if let candidate = Allocator.next(in: range, after: last, isTaken: { PosixFiles.exists(addressPath($0)) }) {
                return (candidate, nil)
            }
            if attempt == 0, let bitmap { try bitmap.rebuild(from: try heldAddresses()); continue }
            let released = try reclaimStaleLocked()
            stale += released
            reclaimed += released.count
            try bitmap?.rebuild(from: try heldAddresses())
            if reclaimed == 0 && attempt == 1 { break }
        }
        throw IPAMError.exhausted(
            range: range.description, held: UInt64(try heldAddresses().filter { range.contains($0) }.count),
            stale: UInt64(reclaimed))
    }

    /// Releases what `owner` holds; returns the addresses freed (none when it held nothing).
    @discardableResult
    public func release(_ owner: AttachmentID) throws -> [IPAddress] {
        guard PosixFiles.exists(directory) else { return [] }
        return try withLock {
            return try releaseLocked(owner)
        }
    }

    @discardableResult
    func releaseLocked(_ owner: AttachmentID) throws -> [IPAddress] {
        guard let record = try readOwner(owner) else { return [] }
        for address in record.addresses {
            let path = addressPath(address)
            let current = try PosixFiles.read(path)
            if current == nil || current.flatMap({ HolderRecord.owner(from: $0, network: network) })?.recordName == owner.recordName {
                try PosixFiles.remove(path)
            }
            FaultInjection.point("release-after-address-file")
        }
        if let device = record.device { try releaseDeviceSlot(device, of: owner) }
        try PosixFiles.remove(ownerPath(owner))
        // The bitmap keeps the bits: a released address is not reused at once, and the next
        // rebuild (when the range looks full) clears them.
        return record.addresses
    }

    /// The addresses `owner` holds, or nil.
    public func addresses(of owner: AttachmentID) throws -> [IPAddress]? {
        try readOwner(owner)?.addresses
    }

    /// Whether the store can take a reservation: its directories exist or can be made, and a file can be written.
    public func checkWritable() throws {
        try withLock {
            try PosixFiles.checkWritable(directory)
        }
    }

    func heldAddresses() throws -> [IPAddress] {
        try PosixFiles.list(addressesDirectory).compactMap(IPAddress.init)
    }

    func holder(of address: IPAddress) -> AttachmentID? {
        (try? PosixFiles.read(addressPath(address))).flatMap { $0 }.flatMap { HolderRecord.owner(from: $0, network: network) }
    }

    func ownerPath(_ owner: AttachmentID) -> String { "\(ownersDirectory)/\(owner.recordName)" }
    func addressPath(_ address: IPAddress) -> String { "\(addressesDirectory)/\(address)" }
    func lastPath(_ family: IPAddress.Family) -> String { "\(directory)/last-\(family == .v4 ? "v4" : "v6")" }

    func readOwner(_ owner: AttachmentID) throws -> OwnerRecord? {
        try PosixFiles.read(ownerPath(owner)).map(OwnerRecord.init(text:))
    }
}
