import Testing
import WeftAddress
import WeftServices

@Suite struct ServiceFlowsTests {
    func address(_ text: String) -> IPAddress { IPAddress(text)! }
    let node = ServiceNode(nodePortAddresses: [IPAddress("192.168.1.10")!, IPAddress("fd00:1::10")!], clusterCIDRs: [])

    func dns(_ endpoints: [String], transport: TransportProtocol = .udp, nodePort: UInt16? = nil, externalIPs: [String] = []) -> ServicePortPlan {
        ServicePortPlan(
            namespace: "kube-system", name: "kube-dns", portName: "dns", transport: transport, clusterIP: address("10.96.0.10"), port: 53,
            nodePort: nodePort, externalIPs: externalIPs.map(address), endpoints: endpoints.map { EndpointPlan(address: address($0), port: 53) })
    }

    @Test func removedEndpointIsStaleAndKeptOneIsNot() {
        let flows = ServiceFlows.stale(from: [dns(["10.244.1.3", "10.244.2.7"])], to: [dns(["10.244.1.3"])], node: node)
        #expect(flows == [StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.2.7"))])
    }

    /// A new weftd's first table: conntrack's flows to endpoints no rule sends to any more are strays;
    /// flows to a kept endpoint, to frontends that are not UDP Services, and untranslated flows are not.
    @Test func straysAreFlowsToEndpointsTheFrontendNoLongerHas() {
        let flows = [
            StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.2.7")),  // removed while down
            StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.1.3")),  // kept
            StaleFlow(frontend: address("10.96.0.99"), port: 53, endpoint: address("10.244.2.7")),  // not a Service
            StaleFlow(frontend: address("192.168.1.10"), port: 30053, endpoint: address("192.168.1.10")),  // untranslated
            StaleFlow(frontend: address("192.168.1.10"), port: 30053, endpoint: address("10.244.2.7")),  // the NodePort's
        ]
        let strays = ServiceFlows.strays(flows, plans: [dns(["10.244.1.3"], nodePort: 30053)], node: node)
        #expect(
            strays == [
                StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.2.7")),
                StaleFlow(frontend: address("192.168.1.10"), port: 30053, endpoint: address("10.244.2.7")),
            ])
        #expect(ServiceFlows.strays(flows, plans: [dns(["10.244.1.3"], transport: .tcp)], node: node).isEmpty)
    }

    /// A new weftd's first table: flows to UDP frontends the table it found served and no plan has any more
    /// (a Service deleted while no weftd ran) are stale; flows to frontends still planned, to frontends
    /// the old table served over TCP only, to addresses it never served, and untranslated ones are not.
    @Test func flowsToFrontendsTheInheritedTableHadAndThePlansLackAreStale() {
        let inherited = [
            ServiceListing(service: "kube-system/kube-dns:dns", transport: "udp", frontends: ["10.96.0.10:53"], endpoints: ["10.244.1.3:53"]),
            ServiceListing(service: "prod/gone", transport: "udp", frontends: ["10.96.0.20:53", "[fd96::20]:53", "192.168.1.10:30020"], endpoints: []),
            ServiceListing(service: "prod/web", transport: "tcp", frontends: ["10.96.0.30:53"], endpoints: ["10.244.2.7:80"]),
        ]
        let flows = [
            StaleFlow(frontend: address("10.96.0.20"), port: 53, endpoint: address("10.244.2.7")),  // the deleted Service's
            StaleFlow(frontend: address("fd96::20"), port: 53, endpoint: address("fd44::7")),  // and in IPv6
            StaleFlow(frontend: address("192.168.1.10"), port: 30020, endpoint: address("10.244.2.7")),  // its NodePort
            StaleFlow(frontend: address("192.168.1.10"), port: 30020, endpoint: address("192.168.1.10")),  // untranslated
            StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.1.3")),  // still planned
            StaleFlow(frontend: address("10.96.0.30"), port: 53, endpoint: address("10.244.2.7")),  // the old table's TCP frontend
            StaleFlow(frontend: address("10.96.0.99"), port: 53, endpoint: address("10.244.2.7")),  // never weft's
        ]
        #expect(
            ServiceFlows.vanished(flows, inherited: inherited, plans: [dns(["10.244.1.3"])], node: node) == [
                StaleFlow(frontend: address("10.96.0.20"), port: 53, endpoint: address("10.244.2.7")),
                StaleFlow(frontend: address("192.168.1.10"), port: 30020, endpoint: address("10.244.2.7")),
                StaleFlow(frontend: address("fd96::20"), port: 53, endpoint: address("fd44::7")),
            ])
        // The same Service planned again: nothing vanished.
        var back = dns(["10.244.2.7"])
        back.clusterIP = address("10.96.0.20")
        #expect(ServiceFlows.vanished(Array(flows.prefix(1)), inherited: inherited, plans: [back], node: node).isEmpty)
    }

    @Test func tcpFlowsAreNeverStale() {
        #expect(ServiceFlows.stale(from: [dns(["10.244.1.3"], transport: .tcp)], to: [dns([], transport: .tcp)], node: node).isEmpty)
    }

    @Test func everyFrontendOfARemovedEndpoint() {
        let old = dns(["10.244.1.3", "10.244.2.7"], nodePort: 30053, externalIPs: ["192.0.2.1"])
        let new = dns(["10.244.1.3"], nodePort: 30053, externalIPs: ["192.0.2.1"])
        let flows = ServiceFlows.stale(from: [old], to: [new], node: node)
        let gone = address("10.244.2.7")
        #expect(
            flows == [
                StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: gone), StaleFlow(frontend: address("192.0.2.1"), port: 53, endpoint: gone),
                StaleFlow(frontend: address("192.168.1.10"), port: 30053, endpoint: gone),
            ])
    }

    @Test func deletedServiceMakesAllItsFlowsStale() {
        let flows = ServiceFlows.stale(from: [dns(["10.244.1.3"])], to: [], node: node)
        #expect(flows == [StaleFlow(frontend: address("10.96.0.10"), port: 53, endpoint: address("10.244.1.3"))])
    }

    @Test func anEndpointStillServingTheFrontendUnderAnotherPlanIsNotStale() {
        var renamed = dns(["10.244.1.3"])
        renamed.portName = "domain"
        #expect(ServiceFlows.stale(from: [dns(["10.244.1.3"])], to: [renamed], node: node).isEmpty)
    }

    @Test func localPolicyNarrowsWhatTheNodePortServes() {
        var old = dns([], nodePort: 30053)
        old.endpoints = [EndpointPlan(address: address("10.244.1.3"), port: 53, isLocal: true), EndpointPlan(address: address("10.244.2.7"), port: 53)]
        var new = old
        new.externalTrafficLocal = true
        let flows = ServiceFlows.stale(from: [old], to: [new], node: node)
        #expect(flows == [StaleFlow(frontend: address("192.168.1.10"), port: 30053, endpoint: address("10.244.2.7"))])
    }
}
