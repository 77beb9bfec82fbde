import WeftIdentity

/// A device handed to an attachment by `claimDevice`.
public struct DeviceClaim: Equatable, Sendable {
    /// Its name on the node.
    public let name: String
    /// Its MTU on the node, given back with it.
    public let mtu: UInt32
    /// Attachments released to make room (their netns is gone): the caller removes what they left.
    public let reclaimed: [AttachmentID]
}

/// The device datapath's pool. `devices/<name>` holds the attachment that has node interface <name>
/// (in the address files' format) and is created exclusively under the store's lock, so two ADDs never
/// take one device. The owner's record names the device too (`device=`, `deviceMTU=`): a slot whose
/// holder's record does not name it (a crash between the two writes) is free.
extension FileStore {
    var devicesDirectory: String { "\(directory)/devices" }
    func devicePath(_ name: String) -> String { "\(devicesDirectory)/\(name)" }

    /// Takes the first device of `pool` that no attachment holds and that `inspect` finds on the node
    /// (returning its MTU there), and records it in `owner`'s record, which must exist (reserve first).
    /// A repeated ADD gets the device it holds. When every device is held, reservations whose netns is
    /// gone are reclaimed once before giving up with `devicesExhausted`.
    public func claimDevice(_ owner: AttachmentID, pool: [String], inspect: (String) throws -> UInt32?) throws -> DeviceClaim {
        try withLock {
            guard var record = try readOwner(owner) else {
                throw IPAMError.io(.init("claim a device", ownerPath(owner), errno: 2))
            }
            if let held = record.device, let mtu = record.deviceMTU { return DeviceClaim(name: held, mtu: mtu, reclaimed: []) }
            try PosixFiles.makeDirectory(devicesDirectory)
            var reclaimed: [AttachmentID] = []
            for attempt in 0..<2 {
                var holders: [String] = []
                for name in pool {
                    if let holder = deviceHolder(name) {
                        holders.append("\(name) held by \(holder)")
                        continue
                    }
                    guard let mtu = try inspect(name) else {
                        holders.append("\(name) not on the node")
                        continue
                    }
                    try PosixFiles.remove(devicePath(name))
                    guard try PosixFiles.publishExclusive(HolderRecord.text(owner), at: devicePath(name)) else {
                        holders.append("\(name) taken by a writer that ignored the lock")
                        continue
                    }
                    record.device = name
                    record.deviceMTU = mtu
                    try PosixFiles.publishReplacing(record.text, at: ownerPath(owner))
                    return DeviceClaim(name: name, mtu: mtu, reclaimed: reclaimed)
                }
                if attempt == 0 {
                    let released = try reclaimStaleLocked()
                    reclaimed += released
                    if !released.isEmpty { continue }
                }
                throw IPAMError.devicesExhausted(pool: pool, holders: holders)
            }
            throw IPAMError.devicesExhausted(pool: pool, holders: [])
        }
    }

    /// The attachment holding device `name`, when its record still names the device.
    func deviceHolder(_ name: String) -> AttachmentID? {
        guard let text = try? PosixFiles.read(devicePath(name)),
            let holder = HolderRecord.owner(from: text, network: network),
            let record = try? readOwner(holder), record.device == name
        else { return nil }
        return holder
    }

    /// Frees `name`'s slot when `owner` holds it (called under the lock, before the record goes).
    func releaseDeviceSlot(_ name: String, of owner: AttachmentID) throws {
        let path = devicePath(name)
        guard let text = try PosixFiles.read(path) else { return }
        if HolderRecord.owner(from: text, network: network)?.recordName == owner.recordName { try PosixFiles.remove(path) }
    }
}
