import CMnl
import Testing
import WeftNetlink

/// Traffic-control requests laid out byte by byte, and dumps parsed back.
@Suite struct TrafficControlEncodingTests {
    static let clock = PacketSchedulerClock(nanosecondsPerTick: 64)

    static func bucket(_ rateBits: UInt64, _ burstBits: UInt64) throws -> TokenBucket {
        try TokenBucket(rateBitsPerSecond: rateBits, burstBits: burstBits, clock: clock)
    }

    @Test func tokenBucketAsTheReferencePluginComputesIt() throws {
        // 8 Mbit/s, 80000 bits: 1000000 B/s, 10000 B, limit 25 ms (25000 B) + 10000, buffer 10 ms = 156250 ticks.
        let bucket = try Self.bucket(8_000_000, 80000)
        #expect(bucket.rateBytesPerSecond == 1_000_000)
        #expect(bucket.burstBytes == 10000)
        #expect(bucket.limitBytes == 35000)
        #expect(bucket.bufferTicks == 156_250)
    }

    @Test func rootTokenBucketBytes() throws {
        let bytes = TrafficControlRequests.replaceRootTokenBucket(linkIndex: 7, bucket: try Self.bucket(8_000_000, 80000)).bytes
        let ratespec: [UInt8] = [0, 1] + le16(0) + le16(0) + le16(0) + le32(1_000_000)  // cell_log, linklayer Ethernet, overhead, cell_align, mpu, rate
        let parameters =
            ratespec + [UInt8](repeating: 0, count: 12)  // no peak rate
            + le32(35000) + le32(156_250) + le32(0)  // limit, buffer, mtu
        let expected: [UInt8] =
            le32(96) + le16(36)  // nlmsg_len, RTM_NEWQDISC
            + le16(0x505)  // NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
            + le32(0) + le32(0)  // sequence (set when sent), port id
            + [0, 0] + le16(0)  // tcm_family AF_UNSPEC, pads
            + le32(7)  // tcm_ifindex
            + le32(0x0001_0000)  // tcm_handle 1:
            + le32(0xffff_ffff)  // tcm_parent TC_H_ROOT
            + le32(0)  // tcm_info
            + attribute(1, Array("tbf".utf8) + [0])  // TCA_KIND
            + le16(52) + le16(0x8002)  // TCA_OPTIONS, NLA_F_NESTED
            + attribute(1, parameters)  // TCA_TBF_PARMS
            + attribute(6, le32(10000))  // TCA_TBF_BURST: bytes
        #expect(bytes == expected)
    }

    @Test func ratesBeyond32BitsGoIntoRate64() throws {
        // 80 Gbit/s = 10^10 bytes/s: 0xffffffff in the ratespec, the full rate in TCA_TBF_RATE64.
        let bucket = try Self.bucket(80_000_000_000, 80000)
        let bytes = TrafficControlRequests.replaceRootTokenBucket(linkIndex: 7, bucket: bucket).bytes
        let options = try #require(NetlinkAttribute.parse(bytes, from: 36).first(Int(TCA_OPTIONS))).nested
        let parameters = try #require(options.first(Int(TCA_TBF_PARMS))).value
        #expect(Array(parameters[8..<12]) == le32(0xffff_ffff))
        #expect(options.first(Int(TCA_TBF_RATE64))?.value == le32(0x540b_e400) + le32(2))  // 10^10
        #expect(bucket.limitBytes == 250_010_000)
    }

    @Test func crioBurstClampsTheLimitAndTheRequestsBuffer() throws {
        // CRI-O's burst, 4 GiB less a byte, at 8 Mbit/s: limit and buffer ticks exceed 32 bits.
        let bucket = try Self.bucket(8_000_000, 34_359_738_359)
        #expect(bucket.burstBytes == 4_294_967_294)
        #expect(bucket.limitBytes == UInt32.max)
        #expect(bucket.bufferTicks == 67_108_863_968)  // 4294.967294 s / 64 ns
        let bytes = TrafficControlRequests.replaceRootTokenBucket(linkIndex: 7, bucket: bucket).bytes
        let options = try #require(NetlinkAttribute.parse(bytes, from: 36).first(Int(TCA_OPTIONS))).nested
        let parameters = try #require(options.first(Int(TCA_TBF_PARMS))).value
        #expect(Array(parameters[28..<32]) == le32(0xffff_ffff))
        #expect(options.first(Int(TCA_TBF_BURST))?.u32 == 4_294_967_294)
    }

    @Test func bucketsBelowAByteAreRefused() {
        #expect(throws: NetlinkError.self) { try Self.bucket(7, 80000) }
        #expect(throws: NetlinkError.self) { try Self.bucket(8000, 7) }
        #expect(throws: NetlinkError.self) { try Self.bucket(8000, (UInt64(UInt32.max) + 1) * 8) }
    }

    @Test func ingressQdiscBytes() {
        let expected: [UInt8] =
            le32(48) + le16(36) + le16(0x605)  // RTM_NEWQDISC, REQUEST | ACK | EXCL | CREATE
            + le32(0) + le32(0) + [0, 0] + le16(0) + le32(4)
            + le32(0xffff_0000)  // handle ffff:
            + le32(0xffff_fff1)  // parent TC_H_INGRESS
            + le32(0) + attribute(1, Array("ingress".utf8) + [0])
        #expect(TrafficControlRequests.addIngressQdisc(linkIndex: 4).bytes == expected)
    }

    @Test func aRootQdiscIsAskedForWithEcho() {
        // Without NLM_F_ECHO the kernel sends the answer to RTNLGRP_TC listeners only, and just acks.
        let bytes = TrafficControlRequests.getRootQdisc(linkIndex: 5).bytes
        #expect(Array(bytes[4..<8]) == le16(38) + le16(0xd))  // RTM_GETQDISC, REQUEST | ACK | ECHO
        #expect(Array(bytes[20..<32]) == le32(5) + le32(0) + le32(0xffff_ffff))
    }

    @Test func redirectFilterMatchesAllAndStealsToTheTarget() throws {
        let bytes = TrafficControlRequests.addRedirectFilter(linkIndex: 4, targetIndex: 9).bytes
        #expect(Array(bytes[4..<6]) == le16(44))  // RTM_NEWTFILTER
        #expect(Array(bytes[28..<32]) == le32(0xffff_0000))  // parent ffff:
        #expect(Array(bytes[32..<36]) == le32(0x0001_0300))  // prio 1, protocol htons(ETH_P_ALL)
        let attributes = NetlinkAttribute.parse(bytes, from: 36)
        #expect(attributes.first(Int(TCA_KIND))?.string == "u32")
        let options = try #require(attributes.first(Int(TCA_OPTIONS))).nested
        // flags TC_U32_TERMINAL, offshift, nkeys 1, then zeros: one key with mask 0 and value 0.
        #expect(options.first(Int(TCA_U32_SEL))?.value == [1, 0, 1] + [UInt8](repeating: 0, count: 29))
        let action = try #require(options.first(Int(TCA_U32_ACT))?.nested.first(1)).nested
        #expect(action.first(Int(TCA_ACT_KIND))?.string == "mirred")
        let mirred = try #require(action.first(Int(TCA_ACT_OPTIONS))?.nested.first(Int(TCA_MIRRED_PARMS))).value
        #expect(mirred == le32(0) + le32(0) + le32(4) + le32(0) + le32(0) + le32(1) + le32(9))  // TC_ACT_STOLEN, TCA_EGRESS_REDIR, ifindex
        // The request's payload has a dump reply's layout, so the parser reads it back.
        #expect(MirredAction.all(inFilter: Array(bytes[16...])) == [MirredAction(targetIndex: 9, isEgressRedirect: true, verdict: 4)])
    }

    @Test func ifbIsCreatedUp() throws {
        let bytes = TrafficControlRequests.createIFB(name: "bwp1234", mtu: 1450).bytes
        #expect(Array(bytes[24..<28]) == le32(1))  // ifi_flags IFF_UP
        let attributes = NetlinkAttribute.parse(bytes, from: 32)
        #expect(attributes.first(Int(IFLA_IFNAME))?.string == "bwp1234")
        #expect(attributes.first(Int(IFLA_MTU))?.u32 == 1450)
        #expect(try #require(attributes.first(Int(IFLA_LINKINFO))).nested.first(Int(IFLA_INFO_KIND))?.string == "ifb")
    }

    @Test func parsesATokenBucketQdisc() throws {
        let bucket = try Self.bucket(8_000_000, 80000)
        let bytes = TrafficControlRequests.replaceRootTokenBucket(linkIndex: 7, bucket: bucket).bytes
        let qdisc = try #require(Qdisc(payload: Array(bytes[16...])))
        #expect(qdisc.kind == "tbf" && qdisc.linkIndex == 7 && qdisc.isRoot)
        #expect(TrafficHandle.text(qdisc.handle) == "1:")
        let installed = try #require(qdisc.tokenBucket)
        #expect(installed == InstalledTokenBucket(rateBytesPerSecond: 1_000_000, bufferTicks: 156_250, limitBytes: 35000))
        #expect(bucket.matches(installed))
        #expect(installed.approximateBurstBytes(clock: Self.clock) == 10000)
    }

    @Test func bucketComparisonToleratesTheKernelsRoundingOnly() throws {
        let bucket = try Self.bucket(8_000_000, 80000)
        #expect(bucket.matches(.init(rateBytesPerSecond: 1_000_000, bufferTicks: 156_248, limitBytes: 35000)))
        #expect(!bucket.matches(.init(rateBytesPerSecond: 1_000_000, bufferTicks: 156_000, limitBytes: 35000)))
        #expect(!bucket.matches(.init(rateBytesPerSecond: 1_000_001, bufferTicks: 156_250, limitBytes: 35000)))
        #expect(!bucket.matches(.init(rateBytesPerSecond: 1_000_000, bufferTicks: 156_250, limitBytes: 35001)))
        // The kernel reports the buffer in 32 bits: compared modulo 2^32.
        let crio = try Self.bucket(8_000_000, 34_359_738_359)
        let wrapped = UInt32(truncatingIfNeeded: crio.bufferTicks - 3)
        #expect(crio.matches(.init(rateBytesPerSecond: 1_000_000, bufferTicks: wrapped, limitBytes: UInt32.max)))
    }

    @Test func handlesReadAsTcWritesThem() {
        #expect(TrafficHandle.text(TrafficHandle.ingressQdisc) == "ffff:")
        #expect(TrafficHandle.text(TrafficHandle.root) == "root")
        #expect(TrafficHandle.text(TrafficHandle.make(major: 1, minor: 0x1a)) == "1:1a")
    }

    @Test func schedulerClockFromProcNetPsched() {
        #expect(PacketSchedulerClock(psched: "000003e8 00000040 000f4240 3b9aca00\n")?.nanosecondsPerTick == 64)
        // clock_res 10^9: iproute2 takes t2us = us2t, one tick a nanosecond.
        #expect(PacketSchedulerClock(psched: "000003e8 00000040 3b9aca00 3b9aca00\n")?.nanosecondsPerTick == 1)
        #expect(PacketSchedulerClock(psched: "garbage") == nil)
    }

    @Test func removingWhatIsNotThereIsNotAnError() throws {
        // ENOENT: "Cannot delete qdisc with handle of zero", the kernel's default root qdisc.
        let enoent = message(type: 2, flags: 0, sequence: 1, payload: le32(UInt32(bitPattern: -2)) + [UInt8](repeating: 0, count: 16))
        let ack = message(type: 2, flags: 0, sequence: 2, payload: le32(0) + [UInt8](repeating: 0, count: 16))
        let transport = ReplayTransport(replies: [enoent, ack])
        let control = TrafficControl(transport: transport, clock: Self.clock)
        #expect(try control.removeRootQdisc(linkIndex: 3) == false)
        #expect(try control.removeIngressQdisc(linkIndex: 3) == true)
        #expect(transport.sent.count == 2)
    }
}
