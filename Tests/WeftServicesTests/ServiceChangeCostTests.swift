import Foundation
import Testing
import WeftAddress
import WeftNetlink
@testable import WeftNftables
@testable import WeftServices

/// What one endpoint change costs at the issue's largest size (5,000 Services of 10 endpoints): the
/// whole path (plan everything, build the whole image, diff two whole images) beside the incremental one
/// (re-plan the Service, rebuild its fragments, diff the partial images). Prints the times; asserts the
/// results (the same kernel messages either way), never the times. Named `measured…`: it runs alone.
@Suite struct ServiceChangeCostTests {
    static func source(changed: Bool) throws -> (ServiceSource, [ServiceObject], [EndpointSliceObject]) {
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
                let last = changed && index == 1234 && slot == 3 ? 250 : (index % 25) * 10 + slot + 1
                return #"{"addresses":["10.244.\#(index / 25).\#(last)"],"conditions":{"ready":true},"nodeName":"node-\#(slot % 3)"}"#
            }
            slices.append(
                try ServiceFixtures.decode(
                    EndpointSliceObject.self,
                    #"{"metadata":{"name":"\#(name)-a","namespace":"bench","labels":{"kubernetes.io/service-name":"\#(name)"}},"addressType":"IPv4","endpoints":[\#(endpoints.joined(separator: ","))],"ports":[{"name":"http","port":8080,"protocol":"UDP"}]}"#
                ))
        }
        return (ServiceSource(services: services, slices: slices), services, slices)
    }

    @Test func measuredOneEndpointChangeAtFiveThousandServices() throws {
        let node = ServiceNode(nodePortAddresses: [IPAddress("192.168.50.2")!], clusterCIDRs: [IPNetwork("10.244.0.0/16")!])
        let (before, _, _) = try Self.source(changed: false)
        let (after, services, slices) = try Self.source(changed: true)
        let clock = ContinuousClock(), client = NftClient(transport: ServicesUnusedTransport())

        // The whole path, as weftd did it for every change.
        let oldPlanning = ServicePlanner.plan(before, nodeName: "node-0"), oldImage = ServiceRuleset.image(oldPlanning.plans, node: node)
        var planning = ServicePlanning(), image = NftTableImage(name: ""), wholeMessages = 0
        let plan = clock.measure { planning = ServicePlanner.plan(after, nodeName: "node-0") }
        let build = clock.measure { image = ServiceRuleset.image(planning.plans, node: node) }
        let diff = clock.measure { wholeMessages = client.diff(from: oldImage, to: image)?.batch.messageCount ?? -1 }
        let wholeStale = clock.measure { _ = ServiceFlows.stale(from: oldPlanning.plans, to: planning.plans, node: node) }

        // The incremental path: the state as weftd holds it after the last write, then the one Service.
        let state = ServiceImageState(node: node)
        var all: [String: [ServicePortPlan]] = [:]
        for plan in oldPlanning.plans { all[plan.namespace + "/" + plan.name, default: []].append(plan) }
        _ = state.update(all)
        let key = "bench/svc-1234"
        var one = ServicePlanning(), change: ServiceImageState.Change?, partialMessages = 0, flows: [StaleFlow] = []
        let service = try #require(services.first { $0.key == key }), serviceSlices = slices.filter { $0.serviceKey == key }
        let incrementalPlan = clock.measure {
            one = ServicePlanner.plan(service, slices: serviceSlices, unreadableSlices: [], nodeName: "node-0")
        }
        let fragments = clock.measure { change = state.update([key: one.plans]) }
        let partial = try #require(change)
        let partialDiff = clock.measure { partialMessages = client.diff(from: partial.before, to: partial.after)?.batch.messageCount ?? -1 }
        let stale = clock.measure { flows = ServiceFlows.stale(from: partial.oldPlans, to: partial.newPlans, state: state) }

        #expect(state.image() == image)
        #expect(wholeMessages > 0 && partialMessages == wholeMessages)
        #expect(flows.count == 1)
        print(
            """
            5,000 Services x 10 endpoints, one endpoint changed:
              whole:       plan \(plan), image \(build), diff \(diff), stale flows \(wholeStale); \(wholeMessages) messages
              incremental: plan \(incrementalPlan), fragments \(fragments), diff \(partialDiff), stale flows \(stale); \(partialMessages) messages
            """)
    }
}
