import Foundation
import Testing
import WeftAddress
import WeftServices

/// The planner at the issue's largest size: 5,000 Services of 10 endpoints. Says how long a whole plan
/// takes (weftd plans whole on every change); asserts the result, never the time.
@Suite struct ServicePlannerScaleTests {
    @Test func fiveThousandServicesOfTenEndpoints() throws {
        var services: [ServiceObject] = []
        var slices: [EndpointSliceObject] = []
        for index in 0..<5_000 {
            let name = "svc-\(index)"
            let clusterIP = "10.96.\(index / 250).\(index % 250 + 1)"
            services.append(
                try ServiceFixtures.decode(
                    ServiceObject.self,
                    #"{"metadata":{"name":"\#(name)","namespace":"bench"},"spec":{"clusterIP":"\#(clusterIP)","ports":[{"name":"http","port":80,"protocol":"UDP"}]}}"#
                ))
            let endpoints = (0..<10).map { slot in
                #"{"addresses":["10.244.\#(index / 25).\#((index % 25) * 10 + slot + 1)"],"conditions":{"ready":true},"nodeName":"node-\#(slot % 3)"}"#
            }
            slices.append(
                try ServiceFixtures.decode(
                    EndpointSliceObject.self,
                    #"{"metadata":{"name":"\#(name)-a","namespace":"bench","labels":{"kubernetes.io/service-name":"\#(name)"}},"addressType":"IPv4","endpoints":[\#(endpoints.joined(separator: ","))],"ports":[{"name":"http","port":8080,"protocol":"UDP"}]}"#
                ))
        }
        let source = ServiceSource(services: services, slices: slices)
        let clock = ContinuousClock()
        var planning = ServicePlanning()
        let elapsed = clock.measure { planning = ServicePlanner.plan(source, nodeName: "node-0") }
        #expect(planning.plans.count == 5_000)
        #expect(planning.plans.allSatisfy { $0.endpoints.count == 10 })
        #expect(planning.problems.isEmpty)
        // UDP (DNS-like) Services, so the stale-flow computation walks every frontend.
        let old = planning.plans
        var changed = old
        changed[0].endpoints.removeLast()
        var flows: [StaleFlow] = []
        let stale = clock.measure { flows = ServiceFlows.stale(from: old, to: changed, node: ServiceNode(nodePortAddresses: [], clusterCIDRs: [])) }
        #expect(flows.count == 1)
        print("ServicePlanner: 5,000 Services × 10 endpoints planned in \(elapsed); stale flows of one change computed in \(stale)")
    }
}
