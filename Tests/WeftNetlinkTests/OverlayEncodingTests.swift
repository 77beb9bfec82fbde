import CMnl
import Testing
import WeftAddress
import WeftNetlink

@Suite struct OverlayEncodingTests {
    @Test func vxlanDeviceHasNoLearningAndItsPortInNetworkOrder() throws {
        let spec = VxlanSpec(
            name: "weft.1", vni: 1, port: 8472, local: try #require(IPAddress("192.168.0.11")),
            underlayIndex: 3, mac: [0x0e, 0x57, 192, 168, 0, 11], mtu: 1450)
        let request = OverlayRequests.createVxlan(spec)
        #expect(request.flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK))
        let attributes = NetlinkAttribute.parse(request.bytes, from: 32)
        #expect(attributes.first(Int(IFLA_IFNAME))?.string == "weft.1")
        #expect(attributes.first(Int(IFLA_MTU))?.u32 == 1450)
        #expect(attributes.first(Int(IFLA_ADDRESS))?.value == spec.mac)
        let info = try #require(attributes.first(Int(IFLA_LINKINFO))).nested
        #expect(info.first(Int(IFLA_INFO_KIND))?.string == "vxlan")
        let data = try #require(info.first(Int(IFLA_INFO_DATA))).nested
        #expect(data.first(Int(IFLA_VXLAN_ID))?.u32 == 1)
        #expect(data.first(Int(IFLA_VXLAN_LINK))?.u32 == 3)
        #expect(data.first(Int(IFLA_VXLAN_LOCAL))?.value == [192, 168, 0, 11])
        #expect(data.first(Int(IFLA_VXLAN_PORT))?.value == [0x21, 0x18])  // 8472 big-endian
        #expect(data.first(Int(IFLA_VXLAN_LEARNING))?.u8 == 0)
    }

    @Test func fabricRoutesReplaceCarryTheAgentsProtocolAndOnlink() throws {
        let route = FabricRoute(
            destination: try #require(IPNetwork("10.244.2.0/24")), gateway: try #require(IPAddress("10.244.2.0")),
            outputIndex: 7, onlink: true)
        let bytes = OverlayRequests.replaceRoute(route, protocolID: 0x57).bytes
        #expect(bytes.count == Int(bytes[0]))
        // rtmsg after the 16-byte header: family, dst_len, src_len, tos, table, protocol, scope, type, flags (u32).
        #expect(Array(bytes[16..<24]) == [UInt8(AF_INET), 24, 0, 0, UInt8(RT_TABLE_MAIN.rawValue), 0x57, 0, UInt8(RTN_UNICAST)])
        #expect(Array(bytes[24..<28]) == le32(UInt32(RTNH_F_ONLINK)))
        let flags = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        #expect(flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK))
        let attributes = NetlinkAttribute.parse(bytes, from: 28)
        #expect(attributes.first(Int(RTA_DST.rawValue))?.value == [10, 244, 2, 0])
        #expect(attributes.first(Int(RTA_GATEWAY.rawValue))?.value == [10, 244, 2, 0])
        #expect(attributes.first(Int(RTA_OIF.rawValue))?.u32 == 7)
    }

    @Test func neighbourEntriesArePermanent() throws {
        let entry = FabricNeighbour(address: try #require(IPAddress("10.244.2.0")), mac: [0x0e, 0x57, 1, 2, 3, 4], index: 7)
        let bytes = NeighbourRequests.replaceNeighbour(entry).bytes
        // ndmsg: family, 3 pad bytes, ifindex, state (u16), flags, type.
        #expect(bytes[16] == UInt8(AF_INET))
        #expect(Array(bytes[20..<24]) == le32(7))
        #expect(Array(bytes[24..<26]) == le16(UInt16(NUD_PERMANENT)))
        #expect(bytes[26] == 0)
        let attributes = NetlinkAttribute.parse(bytes, from: 28)
        #expect(attributes.first(Int(NDA_DST))?.value == [10, 244, 2, 0])
        #expect(attributes.first(Int(NDA_LLADDR))?.value == entry.mac)
    }

    @Test func forwardingEntriesAddressTheVxlanDevicesOwnTable() throws {
        let entry = FabricForwarding(mac: [0x0e, 0x57, 1, 2, 3, 4], remote: try #require(IPAddress("192.168.0.12")), index: 7)
        let bytes = NeighbourRequests.replaceForwarding(entry).bytes
        #expect(bytes[16] == UInt8(AF_BRIDGE))
        #expect(Array(bytes[24..<26]) == le16(UInt16(NUD_PERMANENT)))
        #expect(bytes[26] == UInt8(NTF_SELF))
        let attributes = NetlinkAttribute.parse(bytes, from: 28)
        #expect(attributes.first(Int(NDA_LLADDR))?.value == entry.mac)
        #expect(attributes.first(Int(NDA_DST))?.value == [192, 168, 0, 12])
    }

    @Test func dumpedFabricObjectsParseBack() throws {
        // An RTM_NEWROUTE as the kernel dumps it: rtmsg with protocol 0x57 and RTNH_F_ONLINK, then attributes.
        let payload =
            [UInt8(AF_INET), 24, 0, 0, UInt8(RT_TABLE_MAIN.rawValue), 0x57, 0, UInt8(RTN_UNICAST)] + le32(UInt32(RTNH_F_ONLINK))
            + attribute(UInt16(RTA_TABLE.rawValue), le32(254)) + attribute(UInt16(RTA_DST.rawValue), [10, 244, 2, 0])
            + attribute(UInt16(RTA_GATEWAY.rawValue), [10, 244, 2, 0]) + attribute(UInt16(RTA_OIF.rawValue), le32(7))
        let entry = try #require(RouteEntry(payload: payload))
        #expect(entry.protocolID == 0x57)
        #expect(
            entry.route
                == FabricRoute(
                    destination: try #require(IPNetwork("10.244.2.0/24")), gateway: try #require(IPAddress("10.244.2.0")),
                    outputIndex: 7, onlink: true))
        let neighbour =
            [UInt8(AF_BRIDGE), 0, 0, 0] + le32(7) + le16(UInt16(NUD_PERMANENT)) + [UInt8(NTF_SELF), 0]
            + attribute(UInt16(NDA_LLADDR), [0x0e, 0x57, 1, 2, 3, 4]) + attribute(UInt16(NDA_DST), [192, 168, 0, 12])
        let parsed = try #require(NeighbourEntry(payload: neighbour))
        #expect(parsed.isPermanent && parsed.index == 7 && parsed.destination == IPAddress("192.168.0.12"))
    }
}
