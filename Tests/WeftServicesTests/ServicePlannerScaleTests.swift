import Foundation
import Testing
import WeftAddress
import WeftServices

/// The planner at the largest size: 5,000 Services of 10 endpoints (ServiceChangeCostTests' source).
/// Says how long a whole plan takes (weftd's first table; a change re-plans its Services only); asserts the
/// result, never the time.
@Suite struct ServicePlannerScaleTests {
    @Test func fiveThousandServicesOfTenEndpoints() throws {
        let (source, _, _) = try ServiceChangeCostTests.source(changed: false)
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
