import Foundation
import Testing
import WeftAddress
@testable import WeftAgent

/// What the API server, etcd and an operator's files send weftd, decoded into typed values: the
/// shapes a real API server writes (a Node as kubeadm's cluster holds it, a Status 410 as a Node
/// watch's ERROR event), and malformed values refused with an error naming the field. The client's
/// own documents (Status, kubeconfig) are WeftKubeTests' KubeDocumentTests.
@Suite struct APIDecodingTests {
    /// A Status as kube-apiserver writes it for an expired resourceVersion.
    static let gone = #"""
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (4521)","reason":"Expired","code":410}
        """#

    /// A Node as kube-apiserver 1.30 returns it (trimmed of managedFields and most of status).
    static let node = #"""
        {"kind":"Node","apiVersion":"v1","metadata":{"name":"worker-1","uid":"5f0c8a53-9a2e-4d51-9d0c-2d0b1f6e8a11",
         "resourceVersion":"48213","creationTimestamp":"2024-05-02T09:14:07Z",
         "labels":{"beta.kubernetes.io/arch":"amd64","kubernetes.io/hostname":"worker-1","kubernetes.io/os":"linux"},
         "annotations":{"flannel.alpha.coreos.com/backend-data":"{\"VNI\":1,\"VtepMAC\":\"0e:57:0a:4d:00:0b\"}",
          "flannel.alpha.coreos.com/backend-type":"vxlan","flannel.alpha.coreos.com/kube-subnet-manager":"true",
          "flannel.alpha.coreos.com/public-ip":"10.77.0.11","kubeadm.alpha.kubernetes.io/cri-socket":"unix:///run/containerd/containerd.sock",
          "node.alpha.kubernetes.io/ttl":"0","volumes.kubernetes.io/controller-managed-attach-detach":"true"}},
         "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]},
         "status":{"capacity":{"cpu":"2","memory":"4022184Ki","pods":"110"},
          "conditions":[{"type":"NetworkUnavailable","status":"False","lastHeartbeatTime":"2024-05-02T09:15:01Z",
           "lastTransitionTime":"2024-05-02T09:15:01Z","reason":"FlannelIsUp","message":"Flannel is running on this node"},
           {"type":"Ready","status":"True","lastHeartbeatTime":"2024-05-02T10:01:44Z","lastTransitionTime":"2024-05-02T09:15:12Z",
            "reason":"KubeletReady","message":"kubelet is posting ready status"}],
          "addresses":[{"type":"InternalIP","address":"10.77.0.11"},{"type":"Hostname","address":"worker-1"}]}}
        """#

    @Test func aRecordedNodeIsALease() throws {
        let node = try KubeNode.decode(Data(Self.node.utf8))
        #expect(KubeNode(json: try JSONSerialization.jsonObject(with: Data(Self.node.utf8))) == node, "as the Informer delivers it")
        #expect(node.name == "worker-1" && node.resourceVersion == "48213")
        let lease = try #require(node.lease)
        #expect(lease.subnet == IPNetwork("10.244.1.0/24"))
        #expect(
            lease.attributes
                == LeaseAttributes(
                    publicIP: IPAddress("10.77.0.11")!, backendType: "vxlan", vni: 1,
                    vtepMAC: [0x0e, 0x57, 0x0a, 0x4d, 0x00, 0x0b]))
    }

    /// Node watch events as kube-apiserver writes them: MODIFIED with the Node, BOOKMARK with only a
    /// resourceVersion, ERROR with a Status 410; an event whose object has a wrong-typed field is refused by name.
    @Test func recordedNodeWatchEvents() throws {
        let modified = try KubeNode.watchEvent(Data(#"{"type":"MODIFIED","object":\#(Self.node)}"#.utf8))
        #expect(modified.type == "MODIFIED" && modified.node?.lease?.subnet == IPNetwork("10.244.1.0/24"))
        let bookmark = try KubeNode.watchEvent(
            Data(
                #"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"48290","creationTimestamp":null},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}"#
                    .utf8))
        #expect(bookmark.type == "BOOKMARK" && bookmark.node == nil)
        #expect(throws: AgentError(.engine, "node watch: too old resource version: 1 (4521) (code 410)")) {
            try KubeNode.watchEvent(Data(#"{"type":"ERROR","object":\#(Self.gone)}"#.utf8))
        }
        #expect(throws: AgentError(.engine, "node watch: object.spec.podCIDR must be a string, found 24")) {
            try KubeNode.watchEvent(Data(#"{"type":"ADDED","object":{"metadata":{"name":"n1"},"spec":{"podCIDR":24}}}"#.utf8))
        }
    }

    /// A Node field of the wrong type is refused by name. The control: the recorded Node is read.
    @Test(arguments: [
        (
            #"{"metadata":{"name":"n1","annotations":{"flannel.alpha.coreos.com/public-ip":1}}}"#,
            #"Node: metadata.annotations.flannel.alpha.coreos.com/public-ip must be a string, found 1"#
        ),
        (#"{"metadata":{"name":"n1"},"spec":{"podCIDRs":"10.244.1.0/24"}}"#, #"Node: spec.podCIDRs must be an array, found "10.244.1.0\/24""#),
        (#"{"metadata":{"name":["n1"]}}"#, #"Node: metadata.name must be a string, found ["n1"]"#),
        (#"{"metadata":{}}"#, "Node: metadata.name is missing"),
    ])
    func malformedNodesAreRefusedByName(json: String, message: String) throws {
        #expect(throws: AgentError(.kubeAPI, message)) { try KubeNode.decode(Data(json.utf8)) }
        #expect(try KubeNode.decode(Data(Self.node.utf8)).podCIDR == IPNetwork("10.244.1.0/24"))
    }

    /// Lease values: a field of the wrong type or a VNI past UInt32 is refused by name. The control: the
    /// same value well typed, with a field weftd does not know, is read.
    @Test(arguments: [
        (#"{"PublicIP":["10.0.0.1"],"BackendType":"vxlan"}"#, #"lease value: PublicIP must be a string, found ["10.0.0.1"]"#),
        (#"{"PublicIP":"10.0.0.1","BackendData":{"VNI":"1"}}"#, #"lease value: BackendData.VNI must be an integer, found "1""#),
        (#"{"PublicIP":"10.0.0.1","BackendData":{"VNI":4294967296}}"#, "lease value: BackendData.VNI has an invalid value 4294967296"),
        (
            #"{"PublicIP":"10.0.0.1","publicip":"10.0.0.2"}"#,
            #"lease value: key "PublicIP" appears twice (spelled "PublicIP" and "publicip"; "#
                + "keys are matched without regard to case, as Go's encoding/json does)"
        ),
        (#"{"PublicIP":"10.0.0.1","BackendData":[1]}"#, "lease value: BackendData must be an object, found [1]"),
    ])
    func malformedLeaseValuesAreRefusedByName(json: String, message: String) throws {
        #expect(throws: AgentError(.engine, message)) { try LeaseAttributes.parse(json) }
        let control = try LeaseAttributes.parse(
            #"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:57:0a:00:00:01"},"Future":{}}"#)
        #expect(control.vni == 1 && control.publicIP == IPAddress("10.0.0.1"))
    }
}
