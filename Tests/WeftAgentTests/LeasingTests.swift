import Testing
import WeftAddress
@testable import WeftAgent

@Suite struct LeasingTests {
    static let smallNetwork = #"{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.6.0","Backend":{"Type":"host-gw"}}"#

    func attributes(_ last: UInt8) -> LeaseAttributes {
        LeaseAttributes(publicIP: IPAddress(bytes: [192, 168, 0, last])!, backendType: "host-gw")
    }

    @Test func choiceSkipsTakenSubnetsAndPrefersThePreviousOne() throws {
        let config = try NetConf.parse(Self.smallNetwork)
        let taken: Set = [IPNetwork("10.5.1.0/24")!, IPNetwork("10.5.3.0/24")!]
        #expect(SubnetChoice.free(config, taken: taken).map(\.description) == ["10.5.2.0/24", "10.5.4.0/24", "10.5.5.0/24", "10.5.6.0/24"])
        #expect(SubnetChoice.choose(config, taken: taken, random: { _ in 0 }) == IPNetwork("10.5.2.0/24"))
        #expect(SubnetChoice.choose(config, taken: taken, preferred: IPNetwork("10.5.5.1/24"), random: { _ in 0 }) == IPNetwork("10.5.5.0/24"))
        // A previous subnet someone else holds, or one outside SubnetMin…SubnetMax, is not asked for.
        #expect(SubnetChoice.choose(config, taken: taken, preferred: IPNetwork("10.5.3.0/24"), random: { _ in 0 }) == IPNetwork("10.5.2.0/24"))
        #expect(SubnetChoice.choose(config, taken: taken, preferred: IPNetwork("10.5.9.0/24"), random: { _ in 0 }) == IPNetwork("10.5.2.0/24"))
        let all = Set(SubnetChoice.all(config))
        #expect(SubnetChoice.choose(config, taken: all) == nil)
    }

    @Test func racingLeasersNeverShareASubnetAndTheSeventhFindsTheNetworkFull() async throws {
        let engine = FakeEngine(config: Self.smallNetwork)
        let config = try NetConf.parse(Self.smallNetwork)
        let leaser = SubnetLeaser(store: engine, config: config, ttl: 10, attempts: 20)
        let subnets = try await withThrowingTaskGroup(of: IPNetwork.self) { group in
            for node in 1...6 {
                group.addTask { try await leaser.acquire(attributes: attributes(UInt8(node)), previous: nil).lease.subnet }
            }
            return try await group.reduce(into: [IPNetwork]()) { $0.append($1) }
        }
        #expect(Set(subnets).count == 6)
        await #expect(
            throws: AgentError(.networkFull, "no free subnet: all 6 /24 subnets of 10.5.0.0/16 between SubnetMin 10.5.1.0 and SubnetMax 10.5.6.0 are leased")
        ) {
            try await leaser.acquire(attributes: attributes(7), previous: nil)
        }
    }

    @Test func aRestartedNodeTakesBackItsOwnLease() async throws {
        let engine = FakeEngine(config: Self.smallNetwork)
        engine.seed(SubnetLease(subnet: IPNetwork("10.5.4.0/24")!, attributes: attributes(9)))
        let leaser = SubnetLeaser(store: engine, config: try NetConf.parse(Self.smallNetwork), ttl: 10)
        let acquired = try await leaser.acquire(attributes: attributes(9), previous: IPNetwork("10.5.2.1/24"))
        #expect(acquired.lease.subnet == IPNetwork("10.5.4.0/24"))
        #expect(acquired.renewed)
        #expect(engine.all.count == 1)
    }

    @Test func aCancelledRenewalNeverRevokesTheRenewedLease() async throws {
        struct ConnectionReset: Error {}
        let own = SubnetLease(subnet: IPNetwork("10.5.4.0/24")!, attributes: attributes(9))
        // Positive control: a failure that is not a cancellation after the replace landed gives the grant
        // back (the revoke is seen), as before.
        let failing = FakeEngine(config: Self.smallNetwork)
        failing.seed(own)
        failing.afterReplace = ConnectionReset()
        let leaser = SubnetLeaser(store: failing, config: try NetConf.parse(Self.smallNetwork), ttl: 10)
        await #expect(throws: ConnectionReset.self) { try await leaser.acquire(attributes: attributes(9), previous: nil) }
        #expect(failing.revoked.count == 1)
        // SIGTERM while the renewal's reply is on its way: the record was renewed under the new grant, and
        // revoking that grant would delete it. It is left to expire; the record stays.
        let cancelled = FakeEngine(config: Self.smallNetwork)
        cancelled.seed(own)
        cancelled.afterReplace = CancellationError()
        let cancelledLeaser = SubnetLeaser(store: cancelled, config: try NetConf.parse(Self.smallNetwork), ttl: 10)
        await #expect(throws: CancellationError.self) { try await cancelledLeaser.acquire(attributes: attributes(9), previous: nil) }
        #expect(cancelled.revoked.isEmpty)
        #expect(cancelled.all == [own])
        // The same in reclaim, which renews the node's record after its grant expired.
        cancelled.afterReplace = CancellationError()
        await #expect(throws: CancellationError.self) { try await cancelledLeaser.reclaim(own) }
        #expect(cancelled.revoked.isEmpty)
        #expect(cancelled.all == [own])
    }

    @Test func aRestartedNodeWhoseLeaseExpiredTakesItsPreviousSubnetIfFree() async throws {
        let engine = FakeEngine(config: Self.smallNetwork)
        engine.seed(SubnetLease(subnet: IPNetwork("10.5.1.0/24")!, attributes: attributes(1)))
        let leaser = SubnetLeaser(store: engine, config: try NetConf.parse(Self.smallNetwork), ttl: 10)
        let acquired = try await leaser.acquire(attributes: attributes(2), previous: IPNetwork("10.5.5.1/24"))
        #expect(acquired.lease.subnet == IPNetwork("10.5.5.0/24"))
        #expect(acquired.renewed)
        // Its previous subnet taken by another node: not another subnet under its pods (the caller
        // gives the lease up), and the other's record untouched. The previous subnet free, above, is the control.
        await #expect(throws: AgentError(.leaseLost, "subnet 10.5.1.0/24 of this node's subnet.env is leased by 192.168.0.1 now")) {
            try await leaser.acquire(attributes: attributes(3), previous: IPNetwork("10.5.1.1/24"))
        }
        #expect(engine.all.count == 2)
        // A node with no subnet.env (rebooted: /run is a tmpfs) takes a free one.
        let fresh = try await leaser.acquire(attributes: attributes(3), previous: nil)
        #expect(fresh.lease.subnet != IPNetwork("10.5.1.0/24") && !fresh.renewed)
    }
}
