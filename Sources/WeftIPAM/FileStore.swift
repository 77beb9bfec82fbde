import WeftAddress

/// Who holds an address: one attachment of one container.
public struct Owner: Hashable, Sendable, CustomStringConvertible {
    public let containerID: String
    public let ifname: String

    public init(containerID: String, ifname: String) {
        self.containerID = containerID
        self.ifname = ifname
    }

    /// Container IDs never contain ':' and interface names may not, so the key is unambiguous.
    var fileName: String { "\(containerID):\(ifname)" }
    public var description: String { "container \(containerID) interface \(ifname)" }
}

/// The reservations of one network, as files under `<dataDir>/<network>/`:
///   `lock`              flock'd around every change
///   `owners/<id>:<if>`  the owner's record: netns path, then its addresses (written first)
///   `ips/<address>`     the address's holder: container ID and ifname (written second)
///   `last-v4`, `last-v6` where the round-robin scan resumes
/// The owner record is published before the address files, so a crash between the two
/// leaves a record that names everything a release must remove: nothing is ever unowned.
public final class FileStore {
    public let directory: String
    private let lockTimeout: Double

    public init(dataDir: String, network: String, lockTimeout: Double = 10) {
        directory = "\(dataDir)/\(network)"
        self.lockTimeout = lockTimeout
    }

    private var ownersDirectory: String { "\(directory)/owners" }
    private var addressesDirectory: String { "\(directory)/ips" }

    private func prepare() throws -> StoreLock {
        try PosixFiles.makeDirectory(ownersDirectory)
        try PosixFiles.makeDirectory(addressesDirectory)
        return try StoreLock(path: "\(directory)/lock", timeoutSeconds: lockTimeout)
    }

    /// Reserves one address in each range for `owner`; returns the addresses it already holds when it holds some.
    public func reserve(_ owner: Owner, netns: String, ranges: [AddressRange]) throws -> [IPAddress] {
        let lock = try prepare()
        defer { withExtendedLifetime(lock) {} }
        if let held = try readOwner(owner), !held.addresses.isEmpty {
            return held.addresses
        }
        var chosen: [IPAddress] = []
        for range in ranges {
            let lastPath = "\(directory)/last-\(range.family == .v4 ? "v4" : "v6")"
            let last = try PosixFiles.read(lastPath).flatMap { IPAddress(String($0.split(separator: "\n").first ?? "")) }
            guard let address = Allocator.next(in: range, after: last, isTaken: { PosixFiles.exists(addressPath($0)) }) else {
                throw IPAMError.exhausted(range: range.description, held: try heldCount())
            }
            chosen.append(address)
        }
        let record = OwnerRecord(netns: netns, addresses: chosen)
        try PosixFiles.publishReplacing(record.text, at: ownerPath(owner), directory: ownersDirectory)
        for address in chosen {
            let holder = "\(owner.containerID)\n\(owner.ifname)\n"
            guard try PosixFiles.publishExclusive(holder, at: addressPath(address), directory: addressesDirectory) else {
                // Only a writer that ignored the lock could get here; undo our record and report it.
                _ = try? release(owner, alreadyLocked: true)
                throw IPAMError.addressTaken(address, owner: (try? PosixFiles.read(addressPath(address))) ?? "unknown")
            }
        }
        for address in chosen {
            try PosixFiles.publishReplacing(address.description, at: "\(directory)/last-\(address.isIPv4 ? "v4" : "v6")", directory: directory)
        }
        return chosen
    }

    /// Releases what `owner` holds; returns the addresses freed (none when it held nothing).
    @discardableResult
    public func release(_ owner: Owner) throws -> [IPAddress] {
        guard PosixFiles.exists(directory) else { return [] }
        let lock = try prepare()
        defer { withExtendedLifetime(lock) {} }
        return try release(owner, alreadyLocked: true)
    }

    private func release(_ owner: Owner, alreadyLocked: Bool) throws -> [IPAddress] {
        guard let record = try readOwner(owner) else { return [] }
        for address in record.addresses {
            let path = addressPath(address)
            let holder = try PosixFiles.read(path)
            if holder == nil || holder == "\(owner.containerID)\n\(owner.ifname)\n" {
                try PosixFiles.remove(path)
            }
        }
        try PosixFiles.remove(ownerPath(owner))
        return record.addresses
    }

    /// The addresses `owner` holds, or nil.
    public func addresses(of owner: Owner) throws -> [IPAddress]? {
        try readOwner(owner)?.addresses
    }

    /// Whether the store can take a reservation: its directories exist or can be made, and a file can be written.
    public func checkWritable() throws {
        let lock = try prepare()
        defer { withExtendedLifetime(lock) {} }
        let probe = try PosixFiles.writeTemporary("", in: directory)
        try PosixFiles.remove(probe)
    }

    private func heldCount() throws -> UInt64 {
        UInt64(try PosixFiles.list(addressesDirectory).filter { !$0.hasPrefix(".") }.count)
    }

    private func ownerPath(_ owner: Owner) -> String { "\(ownersDirectory)/\(owner.fileName)" }
    private func addressPath(_ address: IPAddress) -> String { "\(addressesDirectory)/\(address)" }

    private func readOwner(_ owner: Owner) throws -> OwnerRecord? {
        try PosixFiles.read(ownerPath(owner)).map(OwnerRecord.init(text:))
    }
}

/// The owner file's contents: the netns path on the first line, then one address per line.
struct OwnerRecord: Equatable {
    var netns: String
    var addresses: [IPAddress]

    init(netns: String, addresses: [IPAddress]) {
        self.netns = netns
        self.addresses = addresses
    }

    init(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        netns = lines.first ?? ""
        addresses = lines.dropFirst().compactMap(IPAddress.init)
    }

    var text: String { ([netns] + addresses.map(\.description)).joined(separator: "\n") + "\n" }
}

extension FileStore {
    /// Every owner with a record in the store.
    public func owners() throws -> [Owner] {
        try PosixFiles.list(ownersDirectory).compactMap { name in
            guard !name.hasPrefix("."), let colon = name.firstIndex(of: ":") else { return nil }
            return Owner(containerID: String(name[..<colon]), ifname: String(name[name.index(after: colon)...]))
        }
    }
}
