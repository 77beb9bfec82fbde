import Testing
import WeftAddress
@testable import WeftAgent

@Suite struct PeerTrustTests {
    let config = NetConf(
        network: IPNetwork("10.244.0.0/16")!, subnetLength: 24, subnetMin: IPAddress("10.244.1.0")!,
        subnetMax: IPAddress("10.244.255.0")!, backend: .hostGateway)

    func lease(_ subnet: String, _ ip: String) -> SubnetLease {
        SubnetLease(subnet: IPNetwork(subnet)!, attributes: LeaseAttributes(publicIP: IPAddress(ip)!, backendType: "host-gw"))
    }

    @Test func misshapenAndOverlappingLeasesAreRefusedAndWellFormedOnesKept() {
        let own = lease("10.244.1.0/24", "10.0.0.1")
        let peers = [
            lease("10.244.2.0/24", "10.0.0.2"), lease("192.168.0.0/24", "10.0.0.3"), lease("10.244.0.0/16", "10.0.0.4"),
            lease("10.244.1.0/24", "10.0.0.5"),
        ]
        let (trusted, rejected) = PeerTrust.check(peers, own: own, config: config)
        #expect(trusted == [peers[0]])
        #expect(Set(rejected.map(\.subnet)) == [IPNetwork("192.168.0.0/24")!, IPNetwork("10.244.0.0/16")!, IPNetwork("10.244.1.0/24")!])
    }

    /// The kube backend: podCIDRs have the controller-manager's --node-cidr-mask-size (here /26) and
    /// SubnetLen (24) is not read. Peers of this node's own length are connected (a host-gw cluster of
    /// /26 podCIDRs got no route between its nodes while SubnetLen was the rule); other lengths are not.
    @Test func peersOfTheNodesOwnLengthAreKeptWhateverSubnetLenSays() {
        let own = lease("10.244.0.0/26", "10.0.0.1")
        let peers = [lease("10.244.0.64/26", "10.0.0.2"), lease("10.244.0.128/26", "10.0.0.3"), lease("10.244.1.0/24", "10.0.0.4")]
        let (trusted, rejected) = PeerTrust.check(peers, own: own, config: config)
        #expect(trusted == [peers[0], peers[1]])
        #expect(rejected.map(\.subnet) == [IPNetwork("10.244.1.0/24")!])
        #expect(rejected.first?.reason == "10.244.1.0/24 is not a /26 of Network 10.244.0.0/16")
    }

    /// A reclaim after expiry takes the same subnet back when it is free, and gives nil (never another
    /// subnet) when another node's record holds it.
    @Test func reclaimTakesOnlyTheSameSubnet() async throws {
        let engine = FakeEngine(config: "")
        let leaser = SubnetLeaser(store: engine, config: config, ttl: 5)
        let mine = lease("10.244.3.0/24", "10.0.0.1")
        #expect(try await leaser.reclaim(mine)?.lease == mine)
        let other = FakeEngine(config: "")
        other.seed(lease("10.244.3.0/24", "10.0.0.9"))
        #expect(try await SubnetLeaser(store: other, config: config, ttl: 5).reclaim(mine) == nil)
        #expect(other.all == [lease("10.244.3.0/24", "10.0.0.9")])
    }
}
