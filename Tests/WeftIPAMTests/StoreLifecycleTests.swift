import FoundationEssentials
import Foundation
import Testing
import WeftAddress
import WeftIPAM
import WeftIdentity

@Suite struct StoreLifecycleTests {
    let range: AddressRange
    init() throws { range = try makeRange("10.244.1.0/29", gateway: "10.244.1.1") }

    func owner(_ id: String) -> AttachmentID { AttachmentID(network: "n", containerID: id, ifname: "eth0") }

    @Test func requestedAddressIsHonouredExactly() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            let wanted = try #require(IPAddress("10.244.1.5"))
            #expect(try store.reserve(owner("a"), netns: "", ranges: [range], requested: [wanted]).addresses == [wanted])
            #expect(throws: IPAMError.requestedUnavailable(wanted, reason: "held by container a interface eth0")) {
                try store.reserve(owner("b"), netns: "", ranges: [range], requested: [wanted]).addresses
            }
            let gateway = try #require(IPAddress("10.244.1.1"))
            #expect(throws: IPAMError.requestedUnavailable(gateway, reason: "it is the gateway")) {
                try store.reserve(owner("c"), netns: "", ranges: [range], requested: [gateway]).addresses
            }
            let outside = try #require(IPAddress("10.9.9.9"))
            #expect(throws: IPAMError.requestedUnavailable(outside, reason: "outside 10.244.1.0/29")) {
                try store.reserve(owner("d"), netns: "", ranges: [range], requested: [outside]).addresses
            }
            // The next automatic allocation skips the requested one.
            #expect(try store.reserve(owner("e"), netns: "", ranges: [range]).addresses.map(\.description) == ["10.244.1.2"])
        }
    }

    /// The temp dir may be a tmpfs, where boots never mix: the store goes under the package's build
    /// directory, which is on disk wherever the package builds (or the test fails, never skips).
    @Test func reservationsOfAnEarlierBootAreDroppedOnDisk() throws {
        let buildDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build").path
        try withTemporaryStore(under: buildDir) { dir in
            let before = FileStore(dataDir: dir, network: "n", bootID: "boot-1")
            try #require(before.medium == .disk, "\(dir) is not on disk")
            let first = try before.reserve(owner("a"), netns: "", ranges: [range]).addresses
            let after = FileStore(dataDir: dir, network: "n", bootID: "boot-2")
            #expect(try after.addresses(of: owner("a")) == first, "nothing is dropped until the store is next locked")
            #expect(try after.reserve(owner("b"), netns: "", ranges: [range]).addresses == first, "the old reservation no longer counts")
            #expect(try after.addresses(of: owner("a")) == nil)
        }
    }

    @Test func staleReservationsAreReclaimedWhenTheRangeIsFull() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let netns = "\(dir)/fake-netns"
            _ = FileManager.default.createFile(atPath: netns, contents: Data())
            for index in 0..<5 { _ = try store.reserve(owner("c\(index)"), netns: netns, ranges: [range]).addresses }
            #expect(try store.list().allSatisfy { $0.state == "live" })
            // The namespace goes away without a DEL.
            try FileManager.default.removeItem(atPath: netns)
            #expect(try store.list().allSatisfy { $0.state == "gone" })
            let address = try store.reserve(owner("new"), netns: "", ranges: [range]).addresses
            #expect(address.count == 1)
            #expect(try store.owners().count == 1)
        }
    }

    /// Only ENOENT (or another namespace at the path) makes a namespace gone. A path that cannot be
    /// looked at (here ELOOP; EACCES or EIO alike) says nothing: its reservation is never reclaimed.
    @Test func anUnreadableNamespacePathIsUnknownAndNeverReclaimed() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let netns = "\(dir)/fake-netns", gone = "\(dir)/gone-netns"
            _ = FileManager.default.createFile(atPath: netns, contents: Data())
            _ = FileManager.default.createFile(atPath: gone, contents: Data())
            let kept = try store.reserve(owner("kept"), netns: netns, ranges: [range]).addresses
            _ = try store.reserve(owner("gone"), netns: gone, ranges: [range]).addresses
            // The path now loops (stat fails with ELOOP); the other one no longer exists (ENOENT).
            try FileManager.default.removeItem(atPath: netns)
            try FileManager.default.createSymbolicLink(atPath: netns, withDestinationPath: "\(dir)/loop")
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/loop", withDestinationPath: netns)
            try FileManager.default.removeItem(atPath: gone)
            let states = Dictionary(uniqueKeysWithValues: try store.list().map { ($0.containerID, $0.state) })
            #expect(states == ["kept": "unknown", "gone": "gone"])
            #expect(try store.reclaimStale() == [owner("gone")], "the control: a namespace that is really gone is reclaimed")
            #expect(try store.addresses(of: owner("kept")) == kept)
        }
    }

    @Test func exhaustionReportsHeldAndStale() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            for index in 0..<5 { _ = try store.reserve(owner("c\(index)"), netns: "", ranges: [range]).addresses }
            do {
                _ = try store.reserve(owner("x"), netns: "", ranges: [range]).addresses
                Issue.record("expected exhaustion")
            } catch let error as IPAMError {
                #expect(error.description == "no IP addresses available in range set: 10.244.1.0/29")
                #expect(error.details.hasPrefix("5 addresses held, 0 stale"))
            }
        }
    }

    @Test func aLostBitmapIsRebuiltFromTheRecords() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            let a = try store.reserve(owner("a"), netns: "", ranges: [range]).addresses
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(dir)/n") where name.hasPrefix("bitmap-") {
                try FileManager.default.removeItem(atPath: "\(dir)/n/\(name)")
            }
            try FileManager.default.removeItem(atPath: "\(dir)/n/last-v4")
            let b = try store.reserve(owner("b"), netns: "", ranges: [range]).addresses
            #expect(a != b)
        }
    }

    @Test func releasedBitsAreReusedOnlyAfterTheRangeWraps() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            var seen: [String] = []
            for index in 0..<5 { seen += try store.reserve(owner("c\(index)"), netns: "", ranges: [range]).addresses.map(\.description) }
            try store.release(owner("c1"))
            #expect(try store.reserve(owner("again"), netns: "", ranges: [range]).addresses.map(\.description) == [seen[1]])
        }
    }

    @Test func garbageCollectionKeepsOnlyTheListed() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            for id in ["a", "b", "c"] { _ = try store.reserve(owner(id), netns: "", ranges: [range]).addresses }
            let (released, failures) = try store.collectGarbage(keep: [owner("b").recordName])
            #expect(Set(released) == [owner("a"), owner("c")])
            #expect(failures.isEmpty)
            #expect(try store.owners() == [owner("b")])
            #expect(try store.collectGarbage(keep: []).released == [owner("b")])
        }
    }

    @Test func importsAHostLocalStoreWithoutHandingOutItsAddresses() throws {
        try withTemporaryStore { dir in
            let hostLocal = "\(dir)/host-local/cb0"
            try FileManager.default.createDirectory(atPath: hostLocal, withIntermediateDirectories: true)
            try "abc123\r\neth0".write(toFile: "\(hostLocal)/10.244.1.2", atomically: true, encoding: .utf8)
            try "def456".write(toFile: "\(hostLocal)/10.244.1.3", atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: "\(hostLocal)/10.244.1.4", contents: Data())
            try "10.244.1.4".write(toFile: "\(hostLocal)/last_reserved_ip.0", atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: "\(hostLocal)/lock", contents: Data())

            let store = FileStore(dataDir: "\(dir)/weft", network: "cb0")
            #expect(try store.importHostLocal(from: hostLocal) == 3)
            #expect(try store.addresses(of: AttachmentID(network: "n", containerID: "abc123", ifname: "eth0"))?.map(\.description) == ["10.244.1.2"])
            #expect(try store.addresses(of: AttachmentID(network: "n", containerID: "def456", ifname: "eth0"))?.map(\.description) == ["10.244.1.3"])
            #expect(try store.reserve(owner("new"), netns: "", ranges: [range]).addresses.map(\.description) == ["10.244.1.5"])
            #expect(try store.importHostLocal(from: hostLocal) == 0, "importing twice changes nothing")
        }
    }
}

extension StoreLifecycleTests {
    @Test func hostPortsAreRecordedWithTheReservation() throws {
        try withTemporaryStore { dir in
            let store = FileStore(dataDir: dir, network: "n")
            let addresses = try store.reserve(owner("a"), netns: "", ranges: [range]).addresses
            let mappings = [
                PortMapping(proto: .udp, hostPort: 53, containerPort: 5353, hostIP: IPAddress("fd00::1")),
                PortMapping(proto: .tcp, hostPort: 80, containerPort: 8080, hostIP: nil),
            ]
            try store.recordHostPorts(owner("a"), mappings)
            let recorded = try store.hostPorts()
            #expect(recorded.count == 1)
            #expect(recorded.first?.addresses == addresses)
            #expect(recorded.first?.mappings == mappings)
            #expect(try store.addresses(of: owner("a")) == addresses, "recording hostPorts keeps the reservation")
        }
    }
}
