import Foundation
import Testing
import WeftTestSupport
import WeftNetlink
import WeftSystem

/// TrafficControl against the kernel, in throwaway namespaces; `tc` only observes what Weft installed.
@Suite(.serialized, .privileged)
struct TrafficControlTests {
    /// A namespace with a veth pair va–vb, both up; runs `body` with the namespace's name and TrafficControl.
    func withVethPair(_ body: (ScratchNamespaces, String, TrafficControl) throws -> Void) throws {
        let scratch = ScratchNamespaces(prefix: "tc")
        defer { scratch.cleanup() }
        let name = try scratch.add("")
        try scratch.run(in: name, "/usr/sbin/ip", "link", "add", "va", "type", "veth", "peer", "name", "vb")
        try scratch.run(in: name, "/usr/sbin/ip", "link", "set", "va", "up")
        try scratch.run(in: name, "/usr/sbin/ip", "link", "set", "vb", "up")
        try body(scratch, name, try TrafficControl(handle: NetlinkHandle(in: NetworkNamespace(path: scratch.path(name)))))
    }

    @Test func tokenBucketIsInstalledReplacedAndRemoved() throws {
        try withVethPair { scratch, name, control in
            let va = try scratch.linkIndex("va", in: name)
            #expect(try control.rootQdisc(linkIndex: va) == nil, "a veth's default root is noqueue")
            try control.shapeEgressOfLink(index: va, rateBitsPerSecond: 8_000_000, burstBits: 80000)
            let shown = try scratch.run(in: name, "/usr/sbin/tc", "-s", "qdisc", "show", "dev", "va")
            #expect(shown.contains("qdisc tbf 1: root"), "\(shown)")
            #expect(shown.contains("rate 8Mbit burst 10000b lat 25ms"), "\(shown)")
            let wanted = try control.tokenBucket(rateBitsPerSecond: 8_000_000, burstBits: 80000)
            let root = try #require(try control.qdiscs(linkIndex: va).first { $0.isRoot })
            #expect(root.kind == "tbf" && root.handle == TrafficHandle.tokenBucket)
            #expect(root.tokenBucket.map(wanted.matches) == true, "\(String(describing: root.tokenBucket)) vs \(wanted)")
            #expect(try control.rootQdisc(linkIndex: va) == root, "asked for alone, the same as in the dump")

            // A second ADD with other values changes the bucket in place.
            try control.shapeEgressOfLink(index: va, rateBitsPerSecond: 16_000_000, burstBits: 160_000)
            let replaced = try scratch.run(in: name, "/usr/sbin/tc", "qdisc", "show", "dev", "va")
            #expect(replaced.contains("rate 16Mbit burst 20000b lat 25ms"), "\(replaced)")
            let roots = try control.qdiscs(linkIndex: va).filter(\.isRoot)
            #expect(roots.count == 1)
            let rewanted = try control.tokenBucket(rateBitsPerSecond: 16_000_000, burstBits: 160_000)
            #expect(roots.first?.tokenBucket.map(rewanted.matches) == true)
            #expect(roots.first?.tokenBucket.map(wanted.matches) == false)

            #expect(try control.removeRootQdisc(linkIndex: va))
            #expect(try control.qdiscs(linkIndex: va).allSatisfy { $0.kind != "tbf" })
            #expect(try control.rootQdisc(linkIndex: va) == nil)
            #expect(try control.removeRootQdisc(linkIndex: va) == false, "nothing left to remove is not an error")
        }
    }

    @Test(arguments: [
        (UInt64(1_000_000), UInt64(4_294_967_295)),  // containerd: buffer time beyond 32 bits of ticks
        (UInt64(10_000_000), UInt64(34_359_738_359)),  // CRI-O: limit beyond 32 bits
        (UInt64(80_000_000_000), UInt64(800_000)),  // 80 Gbit/s: TCA_TBF_RATE64
    ])
    func runtimeValuesAreInstalledAndReadBack(rate: UInt64, burst: UInt64) throws {
        try withVethPair { scratch, name, control in
            let va = try scratch.linkIndex("va", in: name)
            try control.shapeEgressOfLink(index: va, rateBitsPerSecond: rate, burstBits: burst)
            let wanted = try control.tokenBucket(rateBitsPerSecond: rate, burstBits: burst)
            let installed = try #require(try control.qdiscs(linkIndex: va).first { $0.isRoot }?.tokenBucket)
            #expect(installed.rateBytesPerSecond == rate / 8)
            #expect(wanted.matches(installed), "\(installed) vs \(wanted)")
        }
    }

    @Test func ifbReceivesTheRedirectedIngress() throws {
        try withVethPair { scratch, name, control in
            let va = try scratch.linkIndex("va", in: name)
            let ifbName = "wt\(scratch.id)ifb"
            let ifb = try control.createIFB(name: ifbName, mtu: 1400, alias: "weft test")
            let link = try #require(try RouteNetlink(handle: NetlinkHandle(in: NetworkNamespace(path: scratch.path(name)))).link(index: ifb))
            #expect(link.name == ifbName && link.kind == "ifb" && link.isUp && link.mtu == 1400 && link.alias == "weft test")
            #expect(throws: NetlinkError.self) { _ = try control.createIFB(name: ifbName, mtu: nil, alias: nil) }

            try control.redirectIngress(fromLinkIndex: va, toLinkIndex: ifb)
            let filters = try scratch.run(in: name, "/usr/sbin/tc", "filter", "show", "dev", "va", "parent", "ffff:")
            #expect(filters.contains("match 00000000/00000000 at 0"), "\(filters)")
            #expect(filters.contains("mirred (Egress Redirect to device \(ifbName)) stolen"), "\(filters)")
            #expect(try scratch.run(in: name, "/usr/sbin/tc", "qdisc", "show", "dev", "va").contains("qdisc ingress ffff:"))
            let redirect = MirredAction(targetIndex: ifb, isEgressRedirect: true, verdict: 4)
            #expect(try control.ingressRedirects(linkIndex: va) == [redirect])

            // Again: still exactly one redirect.
            try control.redirectIngress(fromLinkIndex: va, toLinkIndex: ifb)
            #expect(try control.ingressRedirects(linkIndex: va) == [redirect])

            #expect(try control.rootQdisc(linkIndex: ifb) == nil, "an IFB's default root (handle 0) is not Weft's")
            try control.shapeEgressOfLink(index: ifb, rateBitsPerSecond: 8_000_000, burstBits: 80000)
            #expect(try control.qdiscs(linkIndex: ifb).contains { $0.isRoot && $0.kind == "tbf" })
            #expect(try control.rootQdisc(linkIndex: ifb)?.kind == "tbf")

            #expect(try control.removeIngressQdisc(linkIndex: va))
            #expect(try control.ingressRedirects(linkIndex: va).isEmpty)
            #expect(try control.removeIngressQdisc(linkIndex: va) == false)
            #expect(try control.deleteIFB(name: ifbName))
            #expect(try control.deleteIFB(name: ifbName) == false)
        }
    }

    /// Two namespaces joined by a veth; iperf3 measures 8 Mbit/s each way: out of va through its TBF,
    /// into va through the IFB its ingress is redirected to.
    @Test func measuredTrafficRunsAtTheRate() throws {
        let scratch = ScratchNamespaces(prefix: "tc")
        defer { scratch.cleanup() }
        let a = try scratch.add("a"), b = try scratch.add("b")
        try scratch.run(in: a, "/usr/sbin/ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
        try scratch.run(in: a, "/usr/sbin/ip", "address", "add", "192.0.2.1/24", "dev", "va")
        try scratch.run(in: b, "/usr/sbin/ip", "address", "add", "192.0.2.2/24", "dev", "vb")
        try scratch.run(in: a, "/usr/sbin/ip", "link", "set", "va", "up")
        try scratch.run(in: b, "/usr/sbin/ip", "link", "set", "vb", "up")
        let control = try TrafficControl(handle: NetlinkHandle(in: NetworkNamespace(path: scratch.path(a))))
        let va = try scratch.linkIndex("va", in: a)

        try control.shapeEgressOfLink(index: va, rateBitsPerSecond: 8_000_000, burstBits: 80000)
        let sent = try measure(scratch, client: a, server: b, reverse: false)
        #expect(abs(sent - 8e6) <= 2e6, "a → b ran at \(sent) bit/s")

        let ifb = try control.createIFB(name: "wt\(scratch.id)ifb", mtu: nil, alias: nil)
        try control.redirectIngress(fromLinkIndex: va, toLinkIndex: ifb)
        try control.shapeEgressOfLink(index: ifb, rateBitsPerSecond: 8_000_000, burstBits: 80000)
        try control.removeRootQdisc(linkIndex: va)
        let received = try measure(scratch, client: a, server: b, reverse: true)
        #expect(abs(received - 8e6) <= 2e6, "b → a ran at \(received) bit/s")
    }

    /// Bits per second the receiver saw in a 2-second iperf3 run (reverse: the server sends).
    func measure(_ scratch: ScratchNamespaces, client: String, server: String, reverse: Bool) throws -> Double {
        try scratch.start(in: server, "/usr/bin/iperf3", "-s", "-1", "-B", "192.0.2.2")
        let arguments = ["/usr/bin/iperf3", "-c", "192.0.2.2", "-t", "2", "-J"] + (reverse ? ["-R"] : [])
        for _ in 0..<200 {  // up to 20 s: a loaded machine starts the server late
            let result = try runProgram("/usr/sbin/ip", ["netns", "exec", client] + arguments)
            if result.status == 0,
                let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                let end = report["end"] as? [String: Any], let sum = end["sum_received"] as? [String: Any],
                let rate = sum["bits_per_second"] as? Double
            {
                return rate
            }
            Thread.sleep(forTimeInterval: 0.1)  // the server is not listening yet
        }
        throw TestFailure("iperf3 never measured")
    }
}
