import Foundation
import Testing
import WeftAddress
import WeftIPAM
import WeftIdentity

/// A store in a fresh temporary directory, removed afterwards.
func withTemporaryStore(
    under parent: String = FileManager.default.temporaryDirectory.path,
    _ body: (String) throws -> Void
) throws {
    let directory = "\(parent)/weft-store-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try body(directory)
}

@Suite struct FileStoreTests {
    let range: AddressRange
    init() throws { range = try makeRange("10.244.1.0/29", gateway: "10.244.1.1") }

    @Test func reservesDistinctAddressesAndReleasesThem() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0")
            let a = try store.reserve(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0"), netns: "/run/netns/a", ranges: [range]).addresses
            let b = try store.reserve(AttachmentID(network: "cbr0", containerID: "b", ifname: "eth0"), netns: "/run/netns/b", ranges: [range]).addresses
            #expect(a.map(\.description) == ["10.244.1.2"])
            #expect(b.map(\.description) == ["10.244.1.3"])
            #expect(try store.release(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0")) == a)
            #expect(try store.addresses(of: AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0")) == nil)
            #expect(try store.release(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0")).isEmpty)
        }
    }

    @Test func reserveIsIdempotentPerOwner() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0")
            let owner = AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0")
            let first = try store.reserve(owner, netns: "/run/netns/a", ranges: [range]).addresses
            #expect(try store.reserve(owner, netns: "/run/netns/a", ranges: [range]).addresses == first)
            #expect(try store.owners() == [owner])
        }
    }

    @Test func doesNotReuseAJustReleasedAddress() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0")
            let first = try store.reserve(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0"), netns: "", ranges: [range]).addresses
            try store.release(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0"))
            let second = try store.reserve(AttachmentID(network: "cbr0", containerID: "b", ifname: "eth0"), netns: "", ranges: [range]).addresses
            #expect(first != second)
        }
    }

    @Test func reportsExhaustionWithTheRange() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0")
            for index in 0..<5 {
                _ = try store.reserve(AttachmentID(network: "cbr0", containerID: "c\(index)", ifname: "eth0"), netns: "", ranges: [range]).addresses
            }
            #expect(throws: IPAMError.exhausted(range: "10.244.1.0/29", held: 5, stale: 0)) {
                try store.reserve(AttachmentID(network: "cbr0", containerID: "full", ifname: "eth0"), netns: "", ranges: [range]).addresses
            }
        }
    }

    @Test func recordsArePrivate() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0")
            _ = try store.reserve(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0"), netns: "", ranges: [range]).addresses
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/cbr0/ips/10.244.1.2")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let directory = try FileManager.default.attributesOfItem(atPath: "\(dir)/cbr0")
            #expect((directory[.posixPermissions] as? Int) == 0o700)
        }
    }

    @Test func lockHeldElsewhereTimesOut() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "cbr0", lockTimeout: 0.2)
            _ = try store.reserve(AttachmentID(network: "cbr0", containerID: "a", ifname: "eth0"), netns: "", ranges: [range]).addresses
            let fd = open("\(dir)/cbr0/lock", O_RDWR)
            defer { close(fd) }
            #expect(flock(fd, LOCK_EX) == 0)
            #expect(throws: IPAMError.self) {
                try store.reserve(AttachmentID(network: "cbr0", containerID: "b", ifname: "eth0"), netns: "", ranges: [range]).addresses
            }
        }
    }

    @Test func parallelReservationsNeverShareAnAddress() throws {
        try withTemporaryStore { dir in
            let wide = try makeRange("10.244.0.0/24", gateway: "10.244.0.1")
            let results = Results()
            DispatchQueue.concurrentPerform(iterations: 40) { index in
                // Separate store objects, as separate processes would have.
                let store = FileStore(dataDir: dir, network: "cbr0")
                if let addresses = try? store.reserve(AttachmentID(network: "cbr0", containerID: "c\(index)", ifname: "eth0"), netns: "", ranges: [wide]) {
                    results.append(addresses.addresses)
                }
            }
            #expect(results.count == 40)
            #expect(Set(results.all).count == 40)
        }
    }
}

final class Results: @unchecked Sendable {  // `values` behind `lock`
    private let lock = NSLock()
    private var values: [IPAddress] = []
    func append(_ addresses: [IPAddress]) { lock.lock(); values += addresses; lock.unlock() }
    var all: [IPAddress] { lock.lock(); defer { lock.unlock() }; return values }
    var count: Int { all.count }
}
