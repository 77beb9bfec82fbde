import CMnl
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import Testing
import WeftAddress
import WeftNetlink
import WeftSystem

/// NetlinkHandle and its sockets over replayed bytes: one socket per family, sequence numbers owned by
/// the socket, acks matched to them, the kernel's text on an error, interrupted dumps asked again.
@Suite struct NetlinkHandleTests {
    static let ackPadding = [UInt8](repeating: 0, count: 16)

    static func ack(_ sequence: UInt32, errno: Int32 = 0) -> [UInt8] {
        message(type: 2, flags: 0, sequence: sequence, payload: le32(UInt32(bitPattern: -errno)) + ackPadding)
    }

    static func sequence(of sent: [UInt8]) -> UInt32 {
        UInt32(sent[8]) | UInt32(sent[9]) << 8 | UInt32(sent[10]) << 16 | UInt32(sent[11]) << 24
    }

    @Test func viewsOfOneHandleShareOneSocketAndItsSequenceNumbers() throws {
        let transport = ReplayTransport(replies: [Self.ack(1), Self.ack(2), Self.ack(3)])
        var opened: [Int32] = []
        let handle = NetlinkHandle { family in
            opened.append(family)
            return transport
        }
        let clock = PacketSchedulerClock(nanosecondsPerTick: 64)
        try RouteNetlink(handle: handle).setLinkUp(index: 3)
        try TrafficControl(handle: handle, clock: clock).shapeEgressOfLink(index: 3, rateBitsPerSecond: 1_000_000, burstBits: 80_000)
        try OverlayNetlink(handle: handle).setLinkUp(index: 4)
        #expect(opened == [NETLINK_ROUTE])
        #expect(transport.sent.map(Self.sequence(of:)) == [1, 2, 3])
    }

    @Test func eachFamilyHasItsOwnSocketOpenedOnFirstUse() throws {
        let route = ReplayTransport(replies: [Self.ack(1)])
        let netfilter = ReplayTransport(replies: [Self.ack(1)])
        var opened: [Int32] = []
        let handle = NetlinkHandle { family in
            opened.append(family)
            return family == NETLINK_ROUTE ? route : netfilter
        }
        #expect(opened.isEmpty)
        try RouteNetlink(handle: handle).setLinkUp(index: 3)
        let entry = try #require(ConntrackEntry(payload: Self.conntrackPayload()))
        try Conntrack(handle: handle).delete(entry)
        _ = try handle.route
        _ = try handle.netfilter
        #expect(opened == [NETLINK_ROUTE, NETLINK_NETFILTER])
        #expect(route.sent.count == 1 && netfilter.sent.count == 1)
    }

    @Test func anAckForAnotherSequenceDoesNotAnswerTheRequest() throws {
        // The second request's reply datagram starts with a late error for the first request's number.
        let transport = ReplayTransport(replies: [Self.ack(1), Self.ack(1, errno: 17) + Self.ack(2)])
        let netlink = RouteNetlink(transport: transport)
        try netlink.setLinkUp(index: 3)
        try netlink.setLinkUp(index: 4)
        #expect(transport.sent.map(Self.sequence(of:)) == [1, 2])
        // Positive control: the same error under the request's own number fails it.
        let failing = RouteNetlink(transport: ReplayTransport(replies: [Self.ack(1, errno: 17)]))
        #expect(throws: NetlinkError.self) { try failing.setLinkUp(index: 3) }
    }

    @Test func anErrorCarriesTheKernelsExtendedAckText() throws {
        let payload = le32(UInt32(bitPattern: -22)) + Self.ackPadding + attribute(UInt16(NLMSGERR_ATTR_MSG.rawValue), Array("Invalid prefix".utf8) + [0])
        let transport = ReplayTransport(replies: [message(type: 2, flags: UInt16(NLM_F_CAPPED | NLM_F_ACK_TLVS), sequence: 1, payload: payload)])
        let netlink = RouteNetlink(transport: transport)
        do {
            try netlink.addRoute(try #require(IPNetwork("10.1.0.0/16")), gateway: nil, index: 3)
            Issue.record("expected an error")
        } catch let error as NetlinkError {
            #expect(error.code == .invalidArgument)
            #expect(!error.isValidation, "the kernel's refusal")
            #expect(error.kernelMessage == "Invalid prefix")
            #expect(error.description.contains("kernel: Invalid prefix"))
        }
    }

    static func linkDump(sequence: UInt32, name: String, index: UInt32, flags: UInt16) -> [UInt8] {
        let payload: [UInt8] = [0, 0] + le16(1) + le32(index) + le32(0) + le32(0) + attribute(UInt16(IFLA_IFNAME), Array(name.utf8) + [0])
        return message(type: 16, flags: flags, sequence: sequence, payload: payload)
    }

    @Test func anInterruptedDumpIsAskedForAgain() throws {
        let multi = UInt16(NLM_F_MULTI), interrupted = UInt16(NLM_F_MULTI | NLM_F_DUMP_INTR)
        let transport = ReplayTransport(replies: [
            Self.linkDump(sequence: 1, name: "stale", index: 7, flags: interrupted) + message(type: 3, flags: interrupted, sequence: 1, payload: le32(0)),
            Self.linkDump(sequence: 2, name: "eth0", index: 2, flags: multi) + message(type: 3, flags: multi, sequence: 2, payload: le32(0)),
        ])
        let links = try RouteNetlink(transport: transport).links()
        #expect(links.map(\.name) == ["eth0"])
        #expect(transport.sent.map(Self.sequence(of:)) == [1, 2])
    }

    /// A table that changes under every walk (a busy node) does not fail DEL or GC: the eighth answer is
    /// taken as the kernel gave it.
    @Test func aDumpInterruptedEveryTimeIsTakenAfterTheLastAttempt() throws {
        let interrupted = UInt16(NLM_F_MULTI | NLM_F_DUMP_INTR)
        let replies = (1...20).map { sequence in
            Self.linkDump(sequence: UInt32(sequence), name: "eth\(sequence)", index: 2, flags: interrupted)
                + message(type: 3, flags: interrupted, sequence: UInt32(sequence), payload: le32(0))
        }
        let transport = ReplayTransport(replies: replies)
        #expect(try RouteNetlink(transport: transport).links().map(\.name) == ["eth8"])
        #expect(transport.sent.count == 8)
    }

    /// A receive that failed mid-dump (a timeout) leaves the kernel answering on that socket: the handle
    /// opens a new one for the next request instead of reading the abandoned dump's replies (EBUSY).
    @Test func aSocketThatFailedMidExchangeIsReplaced() throws {
        final class TimingOut: NetlinkTransport {
            func send(_ bytes: [UInt8]) throws {}
            func receive() throws -> [UInt8] { throw SystemError("recv", "netlink", errno: EAGAIN) }
        }
        let healthy = ReplayTransport(replies: [
            Self.linkDump(sequence: 1, name: "eth0", index: 2, flags: UInt16(NLM_F_MULTI))
                + message(type: 3, flags: UInt16(NLM_F_MULTI), sequence: 1, payload: le32(0))
        ])
        var opened = 0
        let handle = NetlinkHandle { _ in
            opened += 1
            return opened == 1 ? TimingOut() : healthy
        }
        #expect(throws: SystemError.self) { try RouteNetlink(handle: handle).links() }
        #expect(try RouteNetlink(handle: handle).links().map(\.name) == ["eth0"], "a new socket answers")
        #expect(opened == 2)
    }

    @Test func anOversizedAttributeIsRefusedBeforeAnythingIsSent() throws {
        let transport = ReplayTransport(replies: [Self.ack(1)])
        let socket = try NetlinkHandle(route: transport).route
        let oversized = NetlinkRequest(type: Int(RTM_SETLINK), flags: NLM_F_ACK)
        oversized.put(Int(IFLA_IFALIAS), bytes: [UInt8](repeating: 0x61, count: 5000))
        #expect(oversized.overflow != nil)
        do {
            try socket.execute(oversized, operation: "set alias")
            Issue.record("expected a refusal")
        } catch let error as NetlinkError {
            // Refused here, not by the kernel: a validation failure, EMSGSIZE by name.
            #expect(error.isValidation)
            #expect(error.code == .messageTooLong)
            #expect(error.description.contains("not sent: attribute"), "\(error)")
        }
        #expect(transport.sent.isEmpty)
        // Positive control: the same attribute at a size that fits is sent and acked.
        let fitting = NetlinkRequest(type: Int(RTM_SETLINK), flags: NLM_F_ACK)
        fitting.put(Int(IFLA_IFALIAS), bytes: [UInt8](repeating: 0x61, count: 200))
        #expect(fitting.overflow == nil)
        try socket.execute(fitting, operation: "set alias")
        #expect(transport.sent.count == 1)
    }

    @Test func shortBuffersReadAsNil() {
        func value(_ bytes: [UInt8]) -> NetlinkAttribute? { NetlinkAttribute.parse(attribute(1, bytes)).first }
        #expect(value([1, 0, 0])?.u32 == nil)
        #expect(value([1, 0, 0, 0])?.u32 == 1)
        #expect(value([])?.u8 == nil)
        #expect(value([1, 0, 0, 0, 0, 0, 0])?.u64 == nil)
        // An ifinfomsg cut before its index: no link (not a link of index 0).
        #expect(Link(payload: [0, 0, 1, 0, 2, 0]) == nil)
        #expect(Link(payload: [0, 0] + le16(1) + le32(5) + le32(0) + le32(0))?.index == 5)
        // A datagram whose second message is cut short yields the first only.
        let datagram = Self.ack(1) + Array(Self.ack(2).prefix(12))
        #expect(NetlinkMessage.split(datagram).map(\.sequence) == [1])
    }

    @Test func aTransactionIsRenumberedFromTheSocketsSequence() throws {
        // One request first (number 1), then a batch numbered 100…102 by its builder (begin, one
        // message asking for an ack, end): it goes out as 2…4, and the ack of its one message (3) ends it.
        let transport = ReplayTransport(replies: [Self.ack(1), Self.ack(3)])
        let socket = try NetlinkHandle(route: transport).route
        try socket.execute(RouteRequests.setLinkUp(index: 3), operation: "set link up")
        let batch =
            message(type: 0x10, flags: 1, sequence: 100, payload: le32(0))
            + message(type: 0xa00, flags: 1, sequence: 101, payload: le32(0))
            + message(type: 0x11, flags: 1, sequence: 102, payload: le32(0))
        try socket.exchangeTransaction(batch, begin: 100, acked: 101, descriptions: [101: "add table"])
        let sent = try #require(transport.sent.last)
        #expect(NetlinkMessage.split(sent).map(\.sequence) == [2, 3, 4])
    }

    /// IPCTNL_MSG_CT_NEW's payload for one UDP flow 10.0.0.1 → 10.0.0.2:53.
    static func conntrackPayload() -> [UInt8] {
        func tuple(_ source: [UInt8], _ destination: [UInt8]) -> [UInt8] {
            attribute(
                UInt16(CTA_TUPLE_IP.rawValue) | 0x8000,
                attribute(UInt16(CTA_IP_V4_SRC.rawValue), source) + attribute(UInt16(CTA_IP_V4_DST.rawValue), destination))
                + attribute(
                    UInt16(CTA_TUPLE_PROTO.rawValue) | 0x8000,
                    attribute(UInt16(CTA_PROTO_NUM.rawValue), [17]) + attribute(UInt16(CTA_PROTO_DST_PORT.rawValue), [0, 53]))
        }
        return [2, 0, 0, 0]
            + attribute(UInt16(CTA_TUPLE_ORIG.rawValue) | 0x8000, tuple([10, 0, 0, 1], [10, 0, 0, 2]))
            + attribute(UInt16(CTA_TUPLE_REPLY.rawValue) | 0x8000, tuple([10, 0, 0, 2], [10, 0, 0, 1]))
    }
}
