import Foundation
import Testing
import WeftAddress
@testable import WeftAgent

/// The pieces of the DaemonSet's install that need no kernel: flanneld's --iface-regex choice, the
/// conflist copy, and the NetworkUnavailable patch.
@Suite struct InstallUnitTests {
    static let links = [
        InterfaceChoice.Candidate(name: "eth0", addresses: [IPAddress("192.168.1.10"), IPAddress("10.0.5.7")].compactMap { $0 }),
        InterfaceChoice.Candidate(name: "ens5", addresses: [IPAddress("10.1.2.3")].compactMap { $0 }),
        InterfaceChoice.Candidate(name: "docker0", addresses: [IPAddress("172.17.0.1")].compactMap { $0 }),
    ]

    @Test func aPatternMatchingAnAddressPicksThatLinkAndAddress() throws {
        // Not the link's first address: the one that matched becomes the PublicIP (flanneld's ifaceAddr).
        #expect(
            try InterfaceChoice.choose(patterns: [#"^10\.0\."#], candidates: Self.links)
                == .init(name: "eth0", address: IPAddress("10.0.5.7")))
        #expect(
            try InterfaceChoice.choose(patterns: [#"^10\.1\."#], candidates: Self.links)
                == .init(name: "ens5", address: IPAddress("10.1.2.3")))
    }

    @Test func aPatternMatchingANamePicksTheFirstSuchLink() throws {
        #expect(try InterfaceChoice.choose(patterns: ["^ens"], candidates: Self.links) == .init(name: "ens5", address: nil))
        // Unanchored, as Go's regexp.MatchString: "docker" matches "docker0".
        #expect(try InterfaceChoice.choose(patterns: ["ocker"], candidates: Self.links) == .init(name: "docker0", address: nil))
    }

    @Test func addressesAreTriedBeforeNamesAndPatternsInOrder() throws {
        // "1" is in eth0's address 192.168.1.10 and in ens5's 10.1.2.3: addresses are tried link by link,
        // so eth0's.
        #expect(try InterfaceChoice.choose(patterns: ["1"], candidates: Self.links) == .init(name: "eth0", address: IPAddress("192.168.1.10")))
        // "5" matches ens5's name and eth0's address 10.0.5.7: the address wins.
        #expect(try InterfaceChoice.choose(patterns: ["5"], candidates: Self.links) == .init(name: "eth0", address: IPAddress("10.0.5.7")))
        // A first pattern that matches nothing gives way to the second.
        #expect(try InterfaceChoice.choose(patterns: ["^wlan", "^docker"], candidates: Self.links) == .init(name: "docker0", address: nil))
    }

    @Test func noMatchAndABadPatternAreErrors() throws {
        #expect(throws: AgentError.self) { try InterfaceChoice.choose(patterns: ["^wlan"], candidates: Self.links) }
        #expect(throws: AgentError.self) { try InterfaceChoice.choose(patterns: [#"^10\.9\."#], candidates: Self.links) }
        #expect(throws: AgentError.self) { try InterfaceChoice.choose(patterns: ["(unclosed"], candidates: Self.links) }
        do {
            _ = try InterfaceChoice.choose(patterns: ["^wlan"], candidates: Self.links)
        } catch let error as AgentError {
            // The error lists the links, so the operator sees what could have matched.
            #expect(error.message.contains("eth0 (192.168.1.10, 10.0.5.7)"))
        }
    }

    @Test func theConflistIsCopiedWhenItDiffersOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-install-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = "\(directory)/cni-conf.json", destination = "\(directory)/net.d/10-weft.conflist"
        let installer = CNIConfInstaller(source: source, destination: destination)
        let first = #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft"}]}"#
        try first.write(toFile: source, atomically: true, encoding: .utf8)

        #expect(try installer.install() == true)
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == first)
        let inode = try FileManager.default.attributesOfItem(atPath: destination)[.systemFileNumber] as? UInt64
        // The same bytes: nothing written (the same inode; a rewrite renames a new file into place).
        #expect(try installer.install() == false)
        #expect(try FileManager.default.attributesOfItem(atPath: destination)[.systemFileNumber] as? UInt64 == inode)

        let second = #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft","mtu":1400}]}"#
        try second.write(toFile: source, atomically: true, encoding: .utf8)
        #expect(try installer.install() == true)
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == second)
        #expect(try FileManager.default.attributesOfItem(atPath: destination)[.systemFileNumber] as? UInt64 != inode)
        let permissions = try FileManager.default.attributesOfItem(atPath: destination)[.posixPermissions] as? Int
        #expect(permissions.map { $0 & 0o077 == 0o044 } == true, "world-readable, as the runtime reads it")

        // A source that is not a JSON object is refused and the installed conflist left as it was.
        for broken in ["{\"name\": ", "[1, 2]", ""] {
            try broken.write(toFile: source, atomically: true, encoding: .utf8)
            #expect(throws: AgentError.self) { try installer.install() }
            #expect(try String(contentsOfFile: destination, encoding: .utf8) == second)
        }
        // No temp file left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/net.d") == ["10-weft.conflist"])
        try FileManager.default.removeItem(atPath: source)
        #expect(throws: AgentError.self) { try installer.install() }
    }

    /// --cni-conf-volatile: the conf dir holds a symlink to the conflist on the tmpfs. A reboot (the tmpfs
    /// emptied) leaves the link dangling, which the runtime cannot load (network not ready) until the
    /// file is written again; the link is then replaced too (a rename in the conf dir, the event the
    /// runtime's inotify watch reloads on). A plain file from an earlier weftd becomes the link.
    @Test func aVolatileConflistIsLinkedFromTheConfDirAndALinkDanglingAfterARebootIsRenewed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-install-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(directory)/net.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = "\(directory)/cni-conf.json", destination = "\(directory)/net.d/10-weft.conflist"
        let volatile = "\(directory)/run/10-weft.conflist"
        let conflist = #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft"}]}"#
        try conflist.write(toFile: source, atomically: true, encoding: .utf8)
        // An earlier weftd's plain file.
        try conflist.write(toFile: destination, atomically: true, encoding: .utf8)
        let installer = CNIConfInstaller(source: source, destination: destination, volatile: volatile)
        func linkInode() throws -> UInt64? {
            var status = stat()
            guard lstat(destination, &status) == 0, (status.st_mode & S_IFMT) == S_IFLNK else { return nil }
            return UInt64(status.st_ino)
        }

        #expect(try installer.install() == true)
        #expect(installer.linkTarget() == volatile)
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == conflist)
        let link = try #require(try linkInode(), "the plain file became a symlink")
        // In place: nothing written, the same link.
        #expect(try installer.install() == false)
        #expect(try linkInode() == link)

        // The reboot: the tmpfs is empty, the link dangles (the runtime cannot read it).
        try FileManager.default.removeItem(atPath: "\(directory)/run")
        #expect(FileManager.default.contents(atPath: destination) == nil)
        #expect(try installer.install() == true)
        #expect(try String(contentsOfFile: volatile, encoding: .utf8) == conflist)
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == conflist)
        let renewed = try #require(try linkInode())
        #expect(renewed != link, "the link is renamed into place again, so the runtime reloads")

        // An edited source: the file rewritten and the link renewed; a link pointing elsewhere is put back.
        let edited = conflist.replacingOccurrences(of: #""type":"weft""#, with: #""type":"weft","mtu":1400"#)
        try edited.write(toFile: source, atomically: true, encoding: .utf8)
        #expect(try installer.install() == true)
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == edited)
        #expect(try linkInode() != renewed)
        try FileManager.default.removeItem(atPath: destination)
        try FileManager.default.createSymbolicLink(atPath: destination, withDestinationPath: source)
        #expect(try installer.install() == true)
        #expect(installer.linkTarget() == volatile)
        // No temp file left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/net.d") == ["10-weft.conflist"])
    }

    @Test func theConditionPatchIsFlannelsShape() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let patch = NodeNetworkCondition.patch(unavailable: false, reason: "WeftIsUp", message: "weftd is running on this node", now: now)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(
            String(decoding: try encoder.encode(patch), as: UTF8.self) == #"{"status":{"conditions":[{"#
                + #""lastHeartbeatTime":"2023-11-14T22:13:20Z","lastTransitionTime":"2023-11-14T22:13:20Z","#
                + #""message":"weftd is running on this node","reason":"WeftIsUp","status":"False","type":"NetworkUnavailable"}]}}"#)
        let lost = NodeNetworkCondition.patch(unavailable: true, reason: "WeftLeaseLost", message: "x", now: now)
        #expect(lost.status.conditions.first?.status == "True")
    }
}
