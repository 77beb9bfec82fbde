import Foundation
import Testing
import WeftAddress
@testable import WeftAgent

@Suite struct KubeNodeTests {
    func node(_ json: String) throws -> KubeNode {
        try #require(KubeNode(json: try JSONSerialization.jsonObject(with: Data(json.utf8))))
    }

    @Test func annotatedNodesAreLeasesAsFlannelReadsThem() throws {
        let peer = try node(
            #"""
            {"metadata":{"name":"n2","resourceVersion":"812","annotations":{
              "flannel.alpha.coreos.com/backend-type":"vxlan",
              "flannel.alpha.coreos.com/backend-data":"{\"VNI\":1,\"VtepMAC\":\"0e:57:0a:4d:00:0c\"}",
              "flannel.alpha.coreos.com/public-ip":"10.77.0.12",
              "flannel.alpha.coreos.com/kube-subnet-manager":"true"}},
             "spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["fd00:0:0:2::/64","10.244.2.0/24"]}}
            """#)
        #expect(peer.name == "n2" && peer.resourceVersion == "812")
        let lease = try #require(peer.lease)
        #expect(lease.subnet == IPNetwork("10.244.2.0/24"))
        #expect(
            lease.attributes
                == LeaseAttributes(
                    publicIP: IPAddress("10.77.0.12")!, backendType: "vxlan",
                    vni: 1, vtepMAC: [0x0e, 0x57, 0x0a, 0x4d, 0x00, 0x0c]))
    }

    @Test func nodesWithoutASubnetManagersAnnotationsAreNoPeers() throws {
        #expect(try node(#"{"metadata":{"name":"n3"},"spec":{"podCIDR":"10.244.3.0/24"}}"#).lease == nil)
        #expect(try node(#"{"metadata":{"name":"n4","annotations":{"flannel.alpha.coreos.com/public-ip":"10.0.0.4"}},"spec":{}}"#).lease == nil)
    }

    @Test func thePatchPublishesWhatFlanneldPublishes() throws {
        let vxlan = try KubeNode.annotationPatch(
            LeaseAttributes(
                publicIP: IPAddress("10.77.0.11")!, backendType: "vxlan",
                vni: 1, vtepMAC: [0x0e, 0x57, 0x0a, 0x4d, 0x00, 0x0b]))
        let annotations = vxlan.metadata.annotations
        #expect(
            annotations == [
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data": #"{"VNI":1,"VtepMAC":"0e:57:0a:4d:00:0b"}"#,
                "flannel.alpha.coreos.com/public-ip": "10.77.0.11",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            ])
        let hostGateway = try KubeNode.annotationPatch(LeaseAttributes(publicIP: IPAddress("10.77.0.11")!, backendType: "host-gw"))
        #expect(hostGateway.metadata.annotations["flannel.alpha.coreos.com/backend-data"] == "null")
    }

    @Test func watchErrorsEndTheStream() throws {
        #expect(throws: AgentError.self) {
            try KubeNode.watchEvent(Data(#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#.utf8))
        }
        let event = try KubeNode.watchEvent(Data(#"{"type":"DELETED","object":{"metadata":{"name":"n2"},"spec":{"podCIDR":"10.244.2.0/24"}}}"#.utf8))
        #expect(event.type == "DELETED" && event.node?.podCIDR == IPNetwork("10.244.2.0/24"))
    }
}
