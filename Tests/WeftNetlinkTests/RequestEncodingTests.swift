import CMnl
import Testing
import WeftAddress
import WeftNetlink

@Suite struct RequestEncodingTests {
    @Test func setLinkUpIsOneIfinfomsg() {
        let bytes = RouteRequests.setLinkUp(index: 5).bytes
        let expected: [UInt8] =
            le32(32)  // nlmsg_len: header 16 + ifinfomsg 16
            + le16(16)  // RTM_NEWLINK
            + le16(0x5)  // NLM_F_REQUEST | NLM_F_ACK
            + le32(0) + le32(0)  // sequence (set when sent), port id
            + [0, 0] + le16(0)  // ifi_family AF_UNSPEC, pad, ifi_type
            + le32(5)  // ifi_index
            + le32(1) + le32(1)  // ifi_flags IFF_UP, ifi_change IFF_UP
        #expect(bytes == expected)
    }

    @Test func vethPeerIsBornInThePodNamespace() throws {
        let request = RouteRequests.createVeth(
            hostName: "veth1234abcd", master: 3, mtu: 1450, peerName: "eth0",
            peerMAC: [0x0a, 0x58, 10, 244, 1, 2], peerNamespaceFD: 7)
        let bytes = request.bytes
        #expect(bytes.count == Int(bytes[0]) | Int(bytes[1]) << 8)
        #expect(request.flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK))
        let attributes = NetlinkAttribute.parse(bytes, from: 32)
        #expect(attributes.first(Int(IFLA_IFNAME))?.string == "veth1234abcd")
        #expect(attributes.first(Int(IFLA_MASTER))?.u32 == 3)
        let info = try #require(attributes.first(Int(IFLA_LINKINFO))).nested
        #expect(info.first(Int(IFLA_INFO_KIND))?.string == "veth")
        let data = try #require(info.first(Int(IFLA_INFO_DATA))).nested
        let peer = try #require(data.first(Int(VETH_INFO_PEER)))
        // The peer attribute opens with its own ifinfomsg (16 bytes), then its attributes.
        let peerAttributes = NetlinkAttribute.parse(peer.value, from: 16)
        #expect(peerAttributes.first(Int(IFLA_IFNAME))?.string == "eth0")
        #expect(peerAttributes.first(Int(IFLA_NET_NS_FD))?.u32 == 7)
        #expect(peerAttributes.first(Int(IFLA_ADDRESS))?.value == [0x0a, 0x58, 10, 244, 1, 2])
        #expect(peerAttributes.first(Int(IFLA_MTU))?.u32 == 1450)
    }

    @Test func hairpinGoesThroughTheBridgeFamilyWithANestedProtinfo() throws {
        let bytes = RouteRequests.setHairpin(index: 9, on: true).bytes
        #expect(bytes[16] == UInt8(AF_BRIDGE))
        let protinfo = try #require(NetlinkAttribute.parse(bytes, from: 32).first(Int(IFLA_PROTINFO)))
        // NLA_F_NESTED must be set, or the bridge reads the attribute as the old one-byte port state.
        let rawType = UInt16(bytes[34]) | UInt16(bytes[35]) << 8
        #expect(rawType & UInt16(NLA_F_NESTED) != 0)
        #expect(protinfo.nested.first(Int(IFLA_BRPORT_MODE))?.u8 == 1)
    }

    @Test func ipv6AddressesSkipDuplicateAddressDetection() throws {
        let address = try #require(IPNetwork("fd00::2/64"))
        let bytes = RouteRequests.addAddress(address, index: 4).bytes
        #expect(bytes[16] == UInt8(AF_INET6))
        #expect(bytes[17] == 64)
        let attributes = NetlinkAttribute.parse(bytes, from: 24)
        #expect(attributes.first(Int(IFA_FLAGS))?.u32 == UInt32(IFA_F_NODAD))
        #expect(attributes.first(Int(IFA_LOCAL))?.value == address.address.bytes)
    }

    @Test func ipv4AddressesCarryTheirBroadcast() throws {
        let bytes = RouteRequests.addAddress(try #require(IPNetwork("10.244.1.2/24")), index: 4).bytes
        let attributes = NetlinkAttribute.parse(bytes, from: 24)
        #expect(attributes.first(Int(IFA_BROADCAST))?.value == [10, 244, 1, 255])
        #expect(attributes.first(Int(IFA_FLAGS)) == nil)
    }

    @Test func defaultRouteHasNoDestinationAttribute() throws {
        let bytes = RouteRequests.addRoute(IPNetwork.defaultRoute(.v4), gateway: IPAddress("10.244.1.1"), index: 2).bytes
        #expect(bytes[17] == 0)
        let attributes = NetlinkAttribute.parse(bytes, from: 28)
        #expect(attributes.first(Int(RTA_DST.rawValue)) == nil)
        #expect(attributes.first(Int(RTA_GATEWAY.rawValue))?.value == [10, 244, 1, 1])
        #expect(attributes.first(Int(RTA_OIF.rawValue))?.u32 == 2)
    }
}
