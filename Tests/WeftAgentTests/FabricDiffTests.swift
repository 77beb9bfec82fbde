import Testing
import WeftAddress
import WeftNetlink
@testable import WeftAgent

@Suite struct FabricDiffTests {
    let links = FabricLinks(vxlanIndex: 7, underlayIndex: 2)
    let own = IPNetwork("10.244.1.0/24")!

    func lease(_ third: UInt8, publicIP last: UInt8, type: String = "vxlan", mac: [UInt8]? = nil) -> SubnetLease {
        SubnetLease(
            subnet: IPNetwork(address: IPAddress(bytes: [10, 244, third, 0])!, prefixLength: 24)!,
            attributes: LeaseAttributes(
                publicIP: IPAddress(bytes: [192, 168, 0, last])!, backendType: type,
                vni: type == "vxlan" ? 1 : nil, vtepMAC: type == "vxlan" ? (mac ?? [0x0e, 0x57, 192, 168, 0, last]) : nil))
    }

    @Test func vxlanPeersGetARouteANeighbourAndAnFDBEntryAndTheOwnLeaseNothing() {
        let state = FabricPlan.desired(peers: [lease(1, publicIP: 1), lease(2, publicIP: 2)], own: own, backend: .vxlan(vni: 1, port: 8472), links: links)
        #expect(state.routes == [FabricRoute(destination: IPNetwork("10.244.2.0/24")!, gateway: IPAddress("10.244.2.0")!, outputIndex: 7, onlink: true)])
        #expect(state.neighbours == [FabricNeighbour(address: IPAddress("10.244.2.0")!, mac: [0x0e, 0x57, 192, 168, 0, 2], index: 7)])
        #expect(state.forwarding == [FabricForwarding(mac: [0x0e, 0x57, 192, 168, 0, 2], remote: IPAddress("192.168.0.2")!, index: 7)])
    }

    @Test func hostGatewayRoutesGoThroughThePeersPublicIP() {
        let state = FabricPlan.desired(peers: [lease(3, publicIP: 3, type: "host-gw")], own: own, backend: .hostGateway, links: links)
        #expect(state.routes == [FabricRoute(destination: IPNetwork("10.244.3.0/24")!, gateway: IPAddress("192.168.0.3")!, outputIndex: 2, onlink: false)])
        #expect(state.neighbours.isEmpty && state.forwarding.isEmpty)
    }

    @Test func leasesOfAnotherBackendAreLeftOut() {
        let state = FabricPlan.desired(peers: [lease(3, publicIP: 3, type: "host-gw")], own: own, backend: .vxlan(vni: 1, port: 8472), links: links)
        #expect(state == FabricState())
    }

    @Test func diffAddsMissingRemovesStaleAndResetsChanged() {
        let backend = NetConf.Backend.vxlan(vni: 1, port: 8472)
        let before = FabricPlan.desired(peers: [lease(2, publicIP: 2), lease(3, publicIP: 3)], own: own, backend: backend, links: links)
        // Node 3 is gone, node 2 recreated its device with another MAC, node 4 joined.
        let after = FabricPlan.desired(
            peers: [lease(2, publicIP: 2, mac: [2, 0, 0, 0, 0, 2]), lease(4, publicIP: 4)], own: own, backend: backend, links: links)
        let diff = FabricDiff(desired: after, present: before)
        #expect(diff.routesToDelete.map(\.destination) == [IPNetwork("10.244.3.0/24")!])
        #expect(diff.routesToSet.map(\.destination) == [IPNetwork("10.244.4.0/24")!])
        #expect(diff.neighboursToDelete.map(\.address) == [IPAddress("10.244.3.0")!])
        #expect(diff.neighboursToSet.map(\.address) == [IPAddress("10.244.2.0")!, IPAddress("10.244.4.0")!])
        #expect(diff.forwardingToDelete.map(\.remote) == [IPAddress("192.168.0.2")!, IPAddress("192.168.0.3")!])
        #expect(diff.forwardingToSet.map(\.remote) == [IPAddress("192.168.0.2")!, IPAddress("192.168.0.4")!])
        #expect(FabricDiff(desired: after, present: after).isEmpty)
    }

    @Test func leftoversOfAnEarlierRunAreRemovedWhenNoLeaseWantsThem() {
        let leftover = FabricPlan.desired(peers: [lease(9, publicIP: 9)], own: own, backend: .vxlan(vni: 1, port: 8472), links: links)
        let diff = FabricDiff(desired: FabricState(), present: leftover)
        #expect(diff.changeCount == 3)
        #expect(diff.routesToSet.isEmpty && diff.neighboursToSet.isEmpty && diff.forwardingToSet.isEmpty)
    }

    @Test func hostGatewayPeersOffTheUnderlaySubnetAreLeftOutAndNamed() {
        let peers = [
            lease(2, publicIP: 2, type: "host-gw"),
            SubnetLease(
                subnet: IPNetwork("10.244.5.0/24")!,
                attributes: LeaseAttributes(publicIP: IPAddress("172.16.0.5")!, backendType: "host-gw")),
        ]
        let split = FabricPlan.reachable(peers, backend: .hostGateway, underlayNetworks: [IPNetwork("192.168.0.0/24")!])
        #expect(split.peers.map(\.subnet) == [IPNetwork("10.244.2.0/24")!])
        #expect(split.unreachable == [IPNetwork("10.244.5.0/24")!])
        // vxlan encapsulates: any routable PublicIP will do.
        #expect(FabricPlan.reachable(peers, backend: .vxlan(vni: 1, port: 8472), underlayNetworks: []).peers.count == 2)
    }
}
