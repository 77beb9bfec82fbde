import Testing
import WeftSystem

/// Legacy iptables' entries blob (IPT_SO_GET_ENTRIES) read for its user chains, on bytes laid out as
/// the kernel writes them.
@Suite struct XtablesEntriesTests {
    /// One entry: its fixed part (zeros but for the offsets), then its target (size, name, revision)
    /// and the target's data, padded to 8 bytes as XT_ALIGN does.
    static func entry(_ layout: XtablesLayout, target name: String, data: [UInt8]) -> [UInt8] {
        var target = [UInt8](repeating: 0, count: layout.targetSize)
        let targetLength = (layout.targetSize + data.count + 7) & ~7
        target.replaceSubrange(0..<2, with: host16(UInt16(targetLength)))
        target.replaceSubrange(layout.targetNameAt..<(layout.targetNameAt + name.utf8.count), with: Array(name.utf8))
        target += data
        target += [UInt8](repeating: 0, count: targetLength - target.count)
        var fixed = [UInt8](repeating: 0, count: layout.entrySize)
        fixed.replaceSubrange(layout.targetOffsetAt..<(layout.targetOffsetAt + 2), with: host16(UInt16(layout.entrySize)))
        fixed.replaceSubrange(layout.nextOffsetAt..<(layout.nextOffsetAt + 2), with: host16(UInt16(layout.entrySize + targetLength)))
        return fixed + target
    }

    /// A user chain's head: an ERROR target whose data is the chain's name (xt_error_target.errorname).
    static func chainHead(_ layout: XtablesLayout, _ chain: String) -> [UInt8] {
        var name = Array(chain.utf8)
        name += [UInt8](repeating: 0, count: layout.errorNameMax - name.count)
        return entry(layout, target: "ERROR", data: name)
    }

    /// A standard target (the empty name) with its verdict: a chain's policy or a jump.
    static func standard(_ layout: XtablesLayout) -> [UInt8] { entry(layout, target: "", data: host32(UInt32(bitPattern: -2))) }

    /// iptables-legacy's nat table after `-N KUBE-SERVICES -N KUBE-NODEPORTS`: the four built-in chains'
    /// policies, each user chain's head and RETURN, and the table's closing ERROR entry.
    static func natTable(_ layout: XtablesLayout) -> [UInt8] {
        var blob: [UInt8] = []
        for _ in 0..<4 { blob += standard(layout) }
        for chain in ["KUBE-SERVICES", "KUBE-NODEPORTS"] { blob += chainHead(layout, chain) + standard(layout) }
        return blob + chainHead(layout, "ERROR")
    }

    @Test func theLayoutIsTheKernelsStructs() {
        // struct ipt_get_entries is 40 bytes (8-aligned after its 36), ipt_entry 112, ip6t_entry 168.
        #expect(XtablesLayout.ipv4.entriesAt == 40 && XtablesLayout.ipv4.entrySize == 112)
        #expect(XtablesLayout.ipv4.targetOffsetAt == 88 && XtablesLayout.ipv4.nextOffsetAt == 90)
        #expect(XtablesLayout.ipv6.entriesAt == 40 && XtablesLayout.ipv6.entrySize == 168)
        #expect(XtablesLayout.ipv6.targetOffsetAt == 140 && XtablesLayout.ipv6.nextOffsetAt == 142)
        #expect(XtablesLayout.ipv4.targetSize == 32 && XtablesLayout.ipv4.targetNameAt == 2)
        #expect(XtablesLayout.ipv4.targetNameMax == 29 && XtablesLayout.ipv4.errorNameMax == 30)
    }

    @Test func userChainsAreTheErrorTargetsNamesButTheLast() throws {
        for layout in [XtablesLayout.ipv4, .ipv6] {
            #expect(try XtablesEntries.userChains(Self.natTable(layout), layout: layout) == ["KUBE-SERVICES", "KUBE-NODEPORTS"])
            // The same table without user chains: none (the closing ERROR entry is not a chain).
            let builtIn = (0..<4).flatMap { _ in Self.standard(layout) } + Self.chainHead(layout, "ERROR")
            #expect(try XtablesEntries.userChains(builtIn, layout: layout) == [])
        }
    }

    @Test func offsetsThatLeaveTheBlobOrDoNotAdvanceAreRefused() throws {
        let layout = XtablesLayout.ipv4
        let good = Self.natTable(layout)
        #expect(throws: (any Error).self) { try XtablesEntries.userChains(Array(good.dropLast(8)), layout: layout) }
        var stuck = good
        stuck.replaceSubrange(layout.nextOffsetAt..<(layout.nextOffsetAt + 2), with: host16(0))
        #expect(throws: (any Error).self) { try XtablesEntries.userChains(stuck, layout: layout) }
        var wild = good
        wild.replaceSubrange(layout.targetOffsetAt..<(layout.targetOffsetAt + 2), with: host16(0xfff0))
        #expect(throws: (any Error).self) { try XtablesEntries.userChains(wild, layout: layout) }
        #expect(try XtablesEntries.userChains(good, layout: layout).count == 2, "the positive control")
    }
}

/// x_tables' blob is in the host's byte order (little-endian on the machines Weft runs on).
private func host16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
private func host32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
