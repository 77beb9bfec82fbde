import Foundation
import WeftTestSupport

extension FakeKubeAPI {
    /// The API as weftd --services reads it: the discovery documents of discovery.k8s.io (v1 and v1beta1,
    /// each served or not, as `versions` says: "v1,v1beta1", "v1beta1" or "none"), one Node (node-1) with
    /// its addresses (127.0.0.1 among them, never a NodePort address), and the collections of Services,
    /// EndpointSlices (both versions) and Endpoints, empty.
    static func services(serving versions: String, namespace: String? = nil) throws -> FakeKubeAPI {
        let served = versions.split(separator: ",").map(String.init).filter { $0 == "v1" || $0 == "v1beta1" }
        let documents = Dictionary(
            uniqueKeysWithValues: served.map { version in
                (
                    "/apis/discovery.k8s.io/\(version)",
                    #"""
                    {"kind":"APIResourceList","groupVersion":"discovery.k8s.io/\#(version)",
                    "resources":[{"name":"endpointslices","namespaced":true,"kind":"EndpointSlice"}]}
                    """#
                )
            })
        let node = #"""
            {"metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.10"},
            {"type":"Hostname","address":"node-1"},{"type":"InternalIP","address":"127.0.0.1"}]}}
            """#
        return try FakeKubeAPI(
            collections: [
                "/api/v1/nodes", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/apis/discovery.k8s.io/v1beta1/endpointslices",
                "/api/v1/endpoints",
            ],
            objects: ["/api/v1/nodes": [node]], documents: documents, namespace: namespace)
    }
}
