import Foundation
import Testing
import WeftAddress
import WeftNetlink
import WeftTestSupport
import WeftSystem
@testable import WeftAgent

/// `--vxlan-tx-checksum-offload auto`: which kernels need the vxlan devices' checksum offload off (before
/// 5.7, flannel#1282), read from uname's release.
struct KernelVersionTests {
    @Test(arguments: [
        ("4.18.0-240.el8.x86_64", 4, 18), ("4.18.0-240.el8", 4, 18), ("5.6.19", 5, 6), ("5.7.0", 5, 7),
        ("5.7", 5, 7), ("5.4.0-150-generic", 5, 4), ("6.18.44-fc-v1300", 6, 18), ("3.10.0-1160.el7.x86_64", 3, 10),
        ("5.10.0-rc1", 5, 10), ("5.15.0+", 5, 15),
    ])
    func parsesTheRelease(release: String, major: Int, minor: Int) throws {
        let version = try #require(KernelVersion(release: release))
        #expect(version == KernelVersion(major: major, minor: minor))
    }

    @Test(arguments: ["", "abc", "5", "5.", ".7", "v5.7.0", "5.x", "-5.7", "0.7", "12345.1", "5.12345", " 5.7"])
    func refusesWhatIsNoRelease(release: String) {
        #expect(KernelVersion(release: release) == nil)
    }

    @Test(arguments: [
        ("4.18.0-240.el8", false), ("5.6.19", false), ("3.10.0-1160.el7.x86_64", false), ("5.4.0-150-generic", false),
        ("5.7.0", true), ("5.10.0", true), ("6.18.44-fc-v1300", true), ("10.0.1", true),
    ])
    func autoTurnsItOffBefore5_7(release: String, enabled: Bool) {
        let decision = TxChecksumOffload.auto.decide(kernelRelease: release)
        #expect(decision.enabled == enabled, "\(decision.reason)")
        #expect(!decision.releaseUnreadable)
    }

    @Test func autoTurnsItOffWhenTheReleaseIsUnreadable() {
        let decision = TxChecksumOffload.auto.decide(kernelRelease: "unknown")
        #expect(!decision.enabled && decision.releaseUnreadable, "\(decision.reason)")
        #expect(decision.reason.contains("\"unknown\" unreadable"))
    }

    @Test func onAndOffAreWhatTheySay() {
        for release in ["4.18.0", "6.18.44", ""] {
            #expect(TxChecksumOffload.on.decide(kernelRelease: release).enabled)
            #expect(!TxChecksumOffload.off.decide(kernelRelease: release).enabled)
        }
        #expect(TxChecksumOffload(rawValue: "Auto") == nil && TxChecksumOffload(rawValue: "auto") == .auto)
    }

    @Test func readsTheRunningKernel() {
        let release = KernelVersion.runningRelease()
        #expect(KernelVersion(release: release) != nil, "uname release \(release)")
    }
}

/// The vxlan devices' transmit checksum offload as NodeFabric leaves it, in a throwaway namespace,
/// observed with scripts/netdev-features.py (the ethtool ioctl's feature names, as `ethtool -k` prints
/// them; nothing shared with the code under test).
@Suite(.serialized, .privileged)
struct VxlanChecksumOffloadTests {
    static let observer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/netdev-features.py").path

    /// A namespace with an underlay link (a veth pair, both ends inside) holding an IPv4 and an IPv6 address.
    final class Node {
        let name = "wt-\(TestNamespace.uniqueID())-csum"

        init() throws {
            try TestNamespace.add(name, loopbackUp: false)
            do {
                for command in [
                    ["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                    ["addr", "add", "10.77.0.11/24", "dev", "eth0"], ["addr", "add", "fd77::11/64", "dev", "eth0", "nodad"],
                    ["link", "set", "eth0", "up"], ["link", "set", "eth1", "up"],
                ] {
                    let result = try run(["/usr/sbin/ip", "-n", name] + command)
                    guard result.status == 0 else { throw TestFailure("ip \(command.joined(separator: " ")): \(result.stderr)") }
                }
            } catch {
                cleanup()
                throw error
            }
        }

        func cleanup() { TestNamespace.delete(name) }

        /// A NodeFabric whose sockets live in this namespace (used from the test's own thread, outside it).
        func fabric() throws -> NodeFabric {
            try NetworkNamespace(path: "/var/run/netns/\(name)").run { try NodeFabric() }
        }

        /// "on" or "off": tx-checksum-ip-generic of `device` (a vxlan device offers no other tx checksum).
        func txChecksum(_ device: String) throws -> String {
            let result = try run([
                "/usr/sbin/ip", "netns", "exec", name, "/usr/bin/python3", "-B", VxlanChecksumOffloadTests.observer,
                device, "tx-checksum-ip-generic",
            ])
            guard result.status == 0, let line = result.stdout.split(separator: "\n").first else {
                throw TestFailure("netdev-features \(device): \(result.status) \(result.stderr)")
            }
            return String(line.dropFirst("tx-checksum-ip-generic: ".count))
        }

        func index(_ device: String) throws -> String {
            try run(["/usr/sbin/ip", "-n", name, "-o", "link", "show", device]).stdout.split(separator: ":").first.map(String.init) ?? ""
        }
    }

    static func specs(_ underlay: Underlay) throws -> [(VxlanSpec, IPAddress)] {
        let v6 = try #require(underlay.publicIPv6)
        return [
            (
                VxlanSpec(
                    name: "weft.1", vni: 1, port: 8472, local: underlay.publicIP, underlayIndex: underlay.index,
                    mac: NodeFabric.vtepMAC(publicIP: underlay.publicIP), mtu: 1430), try #require(IPAddress("10.244.1.0"))
            ),
            (
                VxlanSpec(
                    name: "weft-v6.1", vni: 1, port: 8472, local: v6, underlayIndex: underlay.index,
                    mac: NodeFabric.ipv6VtepMAC(publicIPv6: v6), mtu: 1430), try #require(IPAddress("fd00:244:0:1::"))
            ),
        ]
    }

    /// `off` on a new device and on one adopted from an earlier run that had it on; `on` on an adopted
    /// device that had it off; each device kept (same index), so peers' entries on it survive.
    @Test func offAndOnReachNewAndAdoptedDevices() throws {
        let node = try Node()
        defer { node.cleanup() }
        let fabric = try node.fabric()
        let specs = try Self.specs(try fabric.underlay(name: "eth0", publicIP: nil, ipv6: true))
        for (spec, vtep) in specs {
            _ = try fabric.ensureVxlan(spec, vtep: vtep, txChecksumOffload: false)
            #expect(try node.txChecksum(spec.name) == "off", "new \(spec.name), off")
        }
        let indices = try specs.map { try node.index($0.0.name) }
        // weftd restarted with the offload wanted on: a new NodeFabric adopts the devices.
        let restarted = try node.fabric()
        for (spec, vtep) in specs {
            _ = try restarted.ensureVxlan(spec, vtep: vtep, txChecksumOffload: true)
            #expect(try node.txChecksum(spec.name) == "on", "adopted \(spec.name), on")
        }
        for (spec, vtep) in specs {
            _ = try restarted.ensureVxlan(spec, vtep: vtep, txChecksumOffload: false)
            #expect(try node.txChecksum(spec.name) == "off", "adopted \(spec.name), off again")
        }
        #expect(try specs.map { try node.index($0.0.name) } == indices, "a device was replaced")
        // The kernel also dropped what needs the checksum offload (TSO), as `ethtool -K DEV tx off` does.
        let features = try run([
            "/usr/sbin/ip", "netns", "exec", node.name, "/usr/bin/python3", "-B", Self.observer, "weft.1",
            "tx-tcp-segmentation",
        ]).stdout
        #expect(features.contains("tx-tcp-segmentation: off"), "\(features)")
    }

    /// `auto` and `on` leave a new device's offload on with this machine's kernel (5.7 or later); `auto`
    /// turns it back on on a device found with it off (an `off` run's, or an operator's `ethtool -K`).
    @Test func autoAndOnKeepItOnWithThisKernel() throws {
        let release = KernelVersion.runningRelease()
        let auto = TxChecksumOffload.auto.decide(kernelRelease: release)
        let onThisKernel = (KernelVersion(release: release) ?? KernelVersion(major: 0, minor: 0)) >= TxChecksumOffload.fixedIn
        #expect(auto.enabled == onThisKernel, "\(release): \(auto.reason)")
        let node = try Node()
        defer { node.cleanup() }
        let fabric = try node.fabric()
        let ethtool = try NetworkNamespace(path: "/var/run/netns/\(node.name)").run { try EthtoolSocket() }
        let specs = try Self.specs(try fabric.underlay(name: "eth0", publicIP: nil, ipv6: true))
        for (spec, vtep) in specs {
            _ = try fabric.ensureVxlan(spec, vtep: vtep, txChecksumOffload: TxChecksumOffload.on.decide(kernelRelease: release).enabled)
            #expect(try node.txChecksum(spec.name) == "on", "new \(spec.name), on")
            try ethtool.setTxChecksumOffload(device: spec.name, enabled: false)
            #expect(try node.txChecksum(spec.name) == "off", "\(spec.name) turned off by hand")
            _ = try fabric.ensureVxlan(spec, vtep: vtep, txChecksumOffload: auto.enabled)
            #expect(try node.txChecksum(spec.name) == (onThisKernel ? "on" : "off"), "adopted \(spec.name), auto on \(release)")
        }
    }

    /// A device that is not there: the ioctl's failure names the device and the request.
    @Test func aMissingDeviceIsAnError() throws {
        let node = try Node()
        defer { node.cleanup() }
        let ethtool = try NetworkNamespace(path: "/var/run/netns/\(node.name)").run { try EthtoolSocket() }
        #expect(try ethtool.txChecksumOffload(device: "eth0"))
        do {
            _ = try ethtool.txChecksumOffload(device: "weft.9")
            Issue.record("no error for a missing device")
        } catch {
            #expect("\(error)".contains("SIOCETHTOOL ETHTOOL_GTXCSUM weft.9: No such device"), "\(error)")
        }
        do {
            try ethtool.setTxChecksumOffload(device: "a-name-too-long-for-ifreq", enabled: false)
            Issue.record("no error for a long name")
        } catch {
            #expect("\(error)".contains("File name too long"), "\(error)")
        }
    }
}
