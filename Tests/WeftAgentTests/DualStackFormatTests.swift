import Foundation
import Testing
import WeftAddress
import WeftCNI
import WeftNetlink
@testable import WeftAgent

/// Dual-stack networks (EnableIPv6) in flannel's formats: net-conf, lease keys and values, Node
/// annotations, subnet.env, and the fabric each peer gets.
@Suite struct DualStackFormatTests {
    static let dualStack = #"{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:244::/56","Backend":{"Type":"vxlan"}}"#

    @Test func ipv6DefaultsAreFlannels() throws {
        let config = try NetConf.parse(Self.dualStack)
        let ipv6 = try #require(config.ipv6)
        #expect(ipv6.network == IPNetwork("fd00:244::/56"))
        #expect(ipv6.subnetLength == 64, "a /62 or larger network gives /64s")
        #expect(ipv6.subnetMin == IPAddress("fd00:244:0:1::"), "the first subnet is skipped")
        #expect(ipv6.subnetMax == IPAddress("fd00:244:0:ff::"))
        #expect(ipv6.count == 255)
        #expect(ipv6.subnet(at: 2) == IPNetwork("fd00:244:0:3::/64"))
        #expect(ipv6.index(of: IPNetwork("fd00:244:0:3::/64")!) == 2)
        #expect(ipv6.index(of: IPNetwork("fd00:244:0:3::/65")!) == nil)
        let small = try #require(
            try NetConf.parse(#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/120","Backend":{"Type":"host-gw"}}"#).ipv6)
        #expect(small.subnetLength == 122)
        // Without EnableIPv6, IPv6Network is ignored, as flannel does.
        #expect(try NetConf.parse(#"{"Network":"10.1.0.0/16","IPv6Network":"fd00::/48","Backend":{"Type":"vxlan"}}"#).ipv6 == nil)
    }

    @Test(arguments: [
        (#"{"Network":"10.1.0.0/16","EnableIPv6":true,"Backend":{"Type":"vxlan"}}"#, "EnableIPv6 needs IPv6Network"),
        (#"{"Network":"10.1.0.0/16","EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/48","Backend":{"Type":"vxlan"}}"#, "EnableIPv4 is false"),
        (#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":127,"Backend":{"Type":"vxlan"}}"#, "IPv6SubnetLen 127"),
        (#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/125","Backend":{"Type":"vxlan"}}"#, "too small"),
        (
            #"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetMin":"fd01::","Backend":{"Type":"vxlan"}}"#,
            "not an address of IPv6Network"
        ),
        (#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"10.2.0.0/16","Backend":{"Type":"vxlan"}}"#, "an IPv6 CIDR"),
    ])
    func refused(json: String, message: String) {
        do {
            _ = try NetConf.parse(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func keysNameBothSubnetsAndValuesCarryTheIPv6Device() throws {
        let lease = SubnetLease(
            subnet: IPNetwork("10.244.3.0/24")!, ipv6Subnet: IPNetwork("fd00:0:0:3::/64")!,
            attributes: LeaseAttributes(
                publicIP: IPAddress("192.168.1.11")!, backendType: "vxlan", vni: 1,
                vtepMAC: [0x0e, 0x57, 0xc0, 0xa8, 0x01, 0x0b], publicIPv6: IPAddress("fd77::11")!,
                ipv6VtepMAC: [0x0e, 0x36, 0, 0, 0, 0x11]))
        #expect(lease.keyName == "10.244.3.0-24&fd00:0:0:3::-64", "flannel's MakeSubnetKey")
        let parsed = try #require(SubnetLease.subnets(fromKey: "/coreos.com/network/subnets/10.244.3.0-24&fd00:0:0:3::-64"))
        #expect(parsed.0 == IPNetwork("10.244.3.0/24") && parsed.1 == IPNetwork("fd00:0:0:3::/64"))
        #expect(SubnetLease.subnets(fromKey: "/x/subnets/10.244.3.0-24&10.1.0.0-16") == nil)
        #expect(
            try lease.attributes.json() == #"{"PublicIP":"192.168.1.11","PublicIPv6":"fd77::11","BackendType":"vxlan","#
                + #""BackendData":{"VNI":1,"VtepMAC":"0e:57:c0:a8:01:0b"},"BackendV6Data":{"VNI":1,"VtepMAC":"0e:36:00:00:00:11"}}"#)
        #expect(try LeaseAttributes.parse(lease.attributes.json()) == lease.attributes)
        #expect(lease.ipv6VtepAddress == IPAddress("fd00:0:0:3::"), "the IPv6 subnet's network address, as flannel-v6.N")
    }

    @Test func subnetFileHasFlannelsIPv6Lines() throws {
        let file = SubnetEnv(
            network: IPNetwork("10.244.0.0/16")!, subnet: IPNetwork("10.244.3.0/24")!, mtu: 1430,
            ipv6: (IPNetwork("fd00:244::/56")!, IPNetwork("fd00:244:0:3::/64")!))
        #expect(
            file.text == "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=fd00:244::/56\n"
                + "FLANNEL_IPV6_SUBNET=fd00:244:0:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n")
    }

    @Test func theIPv6SubnetFollowsTheIPv4SubnetsPlace() throws {
        let config = try NetConf.parse(Self.dualStack)
        #expect(SubnetChoice.ipv6(for: IPNetwork("10.244.7.0/24")!, config, taken: []) == IPNetwork("fd00:244:0:7::/64"))
        #expect(
            SubnetChoice.ipv6(for: IPNetwork("10.244.7.0/24")!, config, taken: [IPNetwork("fd00:244:0:7::/64")!])
                == IPNetwork("fd00:244:0:1::/64"), "taken (a flanneld chose it at random): the first free one")
        #expect(
            SubnetChoice.ipv6(for: IPNetwork("10.244.7.0/24")!, config, taken: [], preferred: IPNetwork("fd00:244:0:9::/64"))
                == IPNetwork("fd00:244:0:9::/64"), "the node's previous one")
    }

    @Test func nodeAnnotationsCarryTheIPv6HalfBothWays() throws {
        var attributes = LeaseAttributes(publicIP: IPAddress("10.0.0.1")!, backendType: "vxlan", vni: 1, vtepMAC: [0x0e, 0x57, 10, 0, 0, 1])
        attributes.publicIPv6 = IPAddress("fd77::1")
        attributes.ipv6VtepMAC = [0x0e, 0x36, 0, 0, 0, 1]
        let patch = try KubeNode.annotationPatch(attributes)
        let annotations = patch.metadata.annotations
        #expect(annotations["flannel.alpha.coreos.com/public-ipv6"] == "fd77::1")
        #expect(annotations["flannel.alpha.coreos.com/backend-v6-data"] == #"{"VNI":1,"VtepMAC":"0e:36:00:00:00:01"}"#)
        let node = try #require(
            KubeNode(json: [
                "metadata": ["name": "n1", "annotations": annotations],
                "spec": ["podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:244:0:1::/64"]],
            ]))
        let lease = try #require(node.lease)
        #expect(lease.ipv6Subnet == IPNetwork("fd00:244:0:1::/64"))
        #expect(lease.attributes == attributes)
    }

    @Test func vxlanPeersGetIPv6EntriesOnTheIPv6DeviceAndHostGatewayARouteViaPublicIPv6() throws {
        let peer = SubnetLease(
            subnet: IPNetwork("10.244.2.0/24")!, ipv6Subnet: IPNetwork("fd00:244:0:2::/64")!,
            attributes: LeaseAttributes(
                publicIP: IPAddress("192.168.0.2")!, backendType: "vxlan", vni: 1,
                vtepMAC: [0x0e, 0x57, 192, 168, 0, 2], publicIPv6: IPAddress("fd77::2")!,
                ipv6VtepMAC: [0x0e, 0x36, 0, 0, 0, 2]))
        let links = FabricLinks(vxlanIndex: 7, underlayIndex: 2, ipv6VxlanIndex: 8)
        let state = FabricPlan.desired(peers: [peer], own: (IPNetwork("10.244.1.0/24")!, true), backend: .vxlan(vni: 1, port: 8472), links: links)
        #expect(
            state.routes.contains(
                FabricRoute(
                    destination: IPNetwork("fd00:244:0:2::/64")!, gateway: IPAddress("fd00:244:0:2::")!,
                    outputIndex: 8, onlink: true)))
        #expect(state.neighbours.contains(FabricNeighbour(address: IPAddress("fd00:244:0:2::")!, mac: [0x0e, 0x36, 0, 0, 0, 2], index: 8)))
        #expect(state.forwarding.contains(FabricForwarding(mac: [0x0e, 0x36, 0, 0, 0, 2], remote: IPAddress("fd77::2")!, index: 8)))
        #expect(state.routes.count == 2 && state.neighbours.count == 2 && state.forwarding.count == 2)

        var hostGateway = peer
        hostGateway.attributes.backendType = "host-gw"
        let routes = FabricPlan.desired(
            peers: [hostGateway], own: (IPNetwork("10.244.1.0/24")!, true), backend: .hostGateway,
            links: FabricLinks(vxlanIndex: nil, underlayIndex: 2)
        ).routes
        #expect(
            routes == [
                FabricRoute(destination: IPNetwork("10.244.2.0/24")!, gateway: IPAddress("192.168.0.2")!, outputIndex: 2, onlink: false),
                FabricRoute(destination: IPNetwork("fd00:244:0:2::/64")!, gateway: IPAddress("fd77::2")!, outputIndex: 2, onlink: false),
            ])
        let split = FabricPlan.reachable([hostGateway], backend: .hostGateway, underlayNetworks: [IPNetwork("192.168.0.0/24")!])
        #expect(split.peers.isEmpty, "its PublicIPv6 is not on the underlay")
    }

    /// A flanneld (choosing its IPv6 subnet at random) takes weftd's IPv6 subnet under another key
    /// between weftd's list and its write: weftd sees it, gives way (its grant revoked deletes its
    /// record) and takes another IPv6 subnet.
    @Test func aNodeThatLosesItsIPv6SubnetToAnotherKeyGivesWay() async throws {
        let engine = FakeEngine(config: Self.dualStack)
        let config = try NetConf.parse(Self.dualStack)
        let flanneld = LeaseAttributes(publicIP: IPAddress("192.168.0.9")!, backendType: "vxlan")
        engine.beforeCreate = { engine in
            engine.seed(SubnetLease(subnet: IPNetwork("10.244.200.0/24")!, ipv6Subnet: IPNetwork("fd00:244:0:5::/64")!, attributes: flanneld))
        }
        let leaser = SubnetLeaser(store: engine, config: config, ttl: 10)
        let acquired = try await leaser.acquire(
            attributes: LeaseAttributes(publicIP: IPAddress("192.168.0.1")!, backendType: "vxlan"),
            previous: IPNetwork("10.244.5.0/24"))
        #expect(acquired.lease.subnet == IPNetwork("10.244.5.0/24"))
        #expect(acquired.lease.ipv6Subnet != IPNetwork("fd00:244:0:5::/64"))
        #expect(engine.revoked.count >= 1, "the first record's grant was revoked")
        #expect(engine.all.count == 2, "\(engine.all)")
        #expect(Set(engine.all.compactMap(\.ipv6Subnet)).count == 2)
    }
}
