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
