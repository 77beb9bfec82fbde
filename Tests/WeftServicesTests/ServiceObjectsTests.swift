import Foundation
import Testing
import WeftServices

@Suite struct ServiceObjectsTests {
    @Test func kubernetes120ServiceDecodes() throws {
        let service = try ServiceFixtures.decode(ServiceObject.self, ServiceFixtures.kubeDNS)
        #expect(service.key == "kube-system/kube-dns")
        #expect(service.spec?.clusterIPs == ["10.96.0.10"])
        #expect(service.spec?.ports?.map(\.name) == ["dns", "dns-tcp", "metrics"])
        #expect(service.spec?.ports?.first?.targetPort == .number(53))
    }

    @Test func namedTargetPortAndLoadBalancerStatus() throws {
        let service = try ServiceFixtures.decode(ServiceObject.self, ServiceFixtures.webLoadBalancer)
        #expect(service.spec?.ports?.first?.targetPort == .name("http-web"))
        #expect(service.spec?.ports?.first?.nodePort == 30080)
        #expect(service.status?.loadBalancer?.ingress?.compactMap(\.ip) == ["203.0.113.5", "2001:db8:5::5"])
        #expect(service.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds == 600)
    }

    @Test func v1beta1SliceNamesItsNodeInTopology() throws {
        let slice = try ServiceFixtures.decode(EndpointSliceObject.self, ServiceFixtures.kubeDNSSliceV1beta1)
        #expect(slice.serviceKey == "kube-system/kube-dns")
        #expect(slice.endpoints?.map(\.node) == ["node-1", "node-2"])
        #expect(slice.endpoints?.map { $0.conditions?.ready } == [true, false])
    }

    @Test func v1SliceNamesItsNodeInNodeName() throws {
        let slice = try ServiceFixtures.decode(EndpointSliceObject.self, ServiceFixtures.webSliceV4)
        #expect(slice.endpoints?.map(\.node) == ["node-2", "node-1", "node-1"])
        #expect(slice.endpoints?.last?.conditions?.terminating == true)
    }

    @Test func endpointsBecomeSlicesPerFamilyWithNotReadyKeptAsNotReady() throws {
        let endpoints = try ServiceFixtures.decode(EndpointsObject.self, ServiceFixtures.kubeDNSEndpoints)
        let slices = endpoints.slices
        #expect(slices.count == 1)
        #expect(slices[0].serviceKey == "kube-system/kube-dns")
        #expect(slices[0].endpoints?.map(\.addresses) == [["10.244.1.3"], ["10.244.2.7"]])
        #expect(slices[0].endpoints?.map { $0.conditions?.ready } == [true, false])
        #expect(slices[0].endpoints?.first?.node == "node-1")
    }

    @Test(arguments: [
        (#"{"metadata":{"name":"a"},"spec":{"ports":[{"port":"eighty"}]}}"#, "spec.ports[0].port"),
        (#"{"metadata":{"name":"a"},"spec":{"clusterIPs":"10.0.0.1"}}"#, "spec.clusterIPs"),
        (#"{"metadata":{"name":"a"},"spec":{"ports":[{"port":80,"targetPort":true}]}}"#, "spec.ports[0].targetPort"),
        (#"{"metadata":{"name":7}}"#, "metadata.name"),
        (#"{"spec":{}}"#, "metadata"),
    ])
    func wrongTypedServiceFieldIsRefusedByKey(json: String, key: String) {
        do {
            _ = try ServiceFixtures.decode(ServiceObject.self, json)
            Issue.record("decoded \(json)")
        } catch let error as ServiceObjectError {
            #expect(error.message.contains(key), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func wrongTypedSliceFieldIsRefusedByKey() {
        let json = #"{"metadata":{"name":"s"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":"yes"}}]}"#
        #expect(throws: ServiceObjectError.self) { try ServiceFixtures.decode(EndpointSliceObject.self, json) }
        do {
            _ = try ServiceFixtures.decode(EndpointSliceObject.self, json)
        } catch let error as ServiceObjectError {
            #expect(error.message.contains("endpoints[0].conditions.ready"), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func informerObjectsDecodeToo() throws {
        let object = try ServiceFixtures.object(ServiceFixtures.kubeDNS)
        let service = try ServiceObjectDecoding.decode(ServiceObject.self, object: object, what: "Service")
        #expect(service.spec?.clusterIP == "10.96.0.10")
    }
}
