import CMnl
import Testing
import WeftAddress
import WeftNetlink

@Suite struct ReplyParsingTests {
    @Test func errorAckCarriesTheKernelsText() {
        // NLMSG_ERROR with NLM_F_CAPPED | NLM_F_ACK_TLVS: errno, the request's header only, then NLMSGERR_ATTR_MSG.
        let payload = le32(UInt32(bitPattern: -17)) + [UInt8](repeating: 0, count: 16) + attribute(1, Array("Link already exists".utf8) + [0])
        let transport = ReplayTransport(replies: [message(type: 2, flags: 0x300, sequence: 1, payload: payload)])
        let netlink = RouteNetlink(transport: transport)
        do {
            try netlink.setLinkUp(index: 3)
            Issue.record("expected an error")
        } catch let error as NetlinkError {
            #expect(error.errno == 17)
            #expect(error.kernelMessage == "Link already exists")
            #expect(error.description.contains("File exists"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(transport.sent.count == 1)
    }

    @Test func repliesForOtherSequencesAreSkipped() throws {
        let stale = message(type: 2, flags: 0, sequence: 99, payload: le32(UInt32(bitPattern: -1)) + [UInt8](repeating: 0, count: 16))
        let ack = message(type: 2, flags: 0, sequence: 1, payload: le32(0) + [UInt8](repeating: 0, count: 16))
        let netlink = RouteNetlink(transport: ReplayTransport(replies: [stale + ack]))
        try netlink.setLinkUp(index: 3)
    }

    @Test func parsesALinkWithItsBridgePortHairpin() throws {
        let portData = attribute(UInt16(IFLA_BRPORT_MODE), [1])
        let linkInfo =
            attribute(UInt16(IFLA_INFO_KIND), Array("veth".utf8) + [0])
            + attribute(UInt16(IFLA_INFO_SLAVE_KIND), Array("bridge".utf8) + [0])
            + attribute(UInt16(IFLA_INFO_SLAVE_DATA), portData)
        let payload: [UInt8] =
            [0, 0] + le16(1) + le32(12) + le32(0x1043) + le32(0)
            + attribute(UInt16(IFLA_IFNAME), Array("veth1".utf8) + [0])
            + attribute(UInt16(IFLA_MTU), le32(1450))
            + attribute(UInt16(IFLA_MASTER), le32(3))
            + attribute(UInt16(IFLA_ADDRESS), [0x0a, 0x58, 10, 244, 1, 2])
            + attribute(UInt16(IFLA_LINKINFO), linkInfo)
        let reply = message(type: 16, flags: 0, sequence: 1, payload: payload)
        let ack = message(type: 2, flags: 0, sequence: 1, payload: le32(0) + [UInt8](repeating: 0, count: 16))
        let netlink = RouteNetlink(transport: ReplayTransport(replies: [reply, ack]))
        let link = try #require(try netlink.link(named: "veth1"))
        #expect(link.index == 12)
        #expect(link.isUp)
        #expect(link.mtu == 1450)
        #expect(link.masterIndex == 3)
        #expect(link.kind == "veth")
        #expect(link.hairpin == true)
        #expect(link.macText == "0a:58:0a:f4:01:02")
    }

    @Test func missingLinkIsNil() throws {
        let noDevice = message(type: 2, flags: 0, sequence: 1, payload: le32(UInt32(bitPattern: -19)) + [UInt8](repeating: 0, count: 16))
        #expect(try RouteNetlink(transport: ReplayTransport(replies: [noDevice])).link(named: "nope") == nil)
    }

    @Test func dumpsSpanDatagramsUntilDone() throws {
        func route(_ dst: [UInt8], length: UInt8) -> [UInt8] {
            let header: [UInt8] = [UInt8(AF_INET), length, 0, 0, 254, 3, 0, 1] + le32(0)
            return message(
                type: 24, flags: 2, sequence: 1,
                payload: header + attribute(UInt16(RTA_DST.rawValue), dst)
                    + attribute(UInt16(RTA_GATEWAY.rawValue), [10, 244, 1, 1]) + attribute(UInt16(RTA_OIF.rawValue), le32(2)))
        }
        let done = message(type: 3, flags: 2, sequence: 1, payload: le32(0))
        let transport = ReplayTransport(replies: [route([10, 244, 0, 0], length: 16), route([10, 96, 0, 0], length: 12) + done])
        let routes = try RouteNetlink(transport: transport).routes(family: .v4)
        #expect(routes.map(\.destination.description) == ["10.244.0.0/16", "10.96.0.0/12"])
        #expect(routes.first?.gateway?.description == "10.244.1.1")
        #expect(routes.first?.outputIndex == 2)
    }
}
