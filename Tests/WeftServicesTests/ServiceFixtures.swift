import Foundation
import WeftServices

/// API objects as a Kubernetes 1.20 API server returns them (kubectl get -o json), trimmed of nothing
/// the proxy ignores: managedFields, uid, creationTimestamp and the rest are kept so decoding meets them.
enum ServiceFixtures {
    /// CoreDNS's Service of a kubeadm 1.20 cluster: two UDP/TCP named ports and metrics.
    static let kubeDNS = #"""
        {"apiVersion":"v1","kind":"Service","metadata":{"annotations":{"prometheus.io/port":"9153","prometheus.io/scrape":"true"},
        "creationTimestamp":"2021-03-02T10:11:12Z","labels":{"k8s-app":"kube-dns","kubernetes.io/cluster-service":"true","kubernetes.io/name":"KubeDNS"},
        "managedFields":[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:ports":{}}},"manager":"kubeadm","operation":"Update","time":"2021-03-02T10:11:12Z"}],
        "name":"kube-dns","namespace":"kube-system","resourceVersion":"227","uid":"0d3c7a9b-3c4e-4d8c-9a1f-2b2f8e6a1c55"},
        "spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",
        "ports":[{"name":"dns","port":53,"protocol":"UDP","targetPort":53},{"name":"dns-tcp","port":53,"protocol":"TCP","targetPort":53},
        {"name":"metrics","port":9153,"protocol":"TCP","targetPort":9153}],"selector":{"k8s-app":"kube-dns"},"sessionAffinity":"None","type":"ClusterIP"},
        "status":{"loadBalancer":{}}}
        """#

    /// Its EndpointSlice as 1.20 serves it (discovery.k8s.io/v1beta1): one pod ready on node-1, one
    /// terminating on node-2 (ready false), the node in topology.
    static let kubeDNSSliceV1beta1 = #"""
        {"addressType":"IPv4","apiVersion":"discovery.k8s.io/v1beta1","kind":"EndpointSlice",
        "endpoints":[{"addresses":["10.244.1.3"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","name":"coredns-74ff55c5b-4ts8x","namespace":"kube-system","resourceVersion":"612","uid":"5b0c1f8e-7c8e-4b1a-9d0b-5e7d3c0f6a10"},
        "topology":{"kubernetes.io/hostname":"node-1","topology.kubernetes.io/region":"eu-west-1"}},
        {"addresses":["10.244.2.7"],"conditions":{"ready":false},"targetRef":{"kind":"Pod","name":"coredns-74ff55c5b-9xk2q","namespace":"kube-system","resourceVersion":"640","uid":"7e2d9f1a-1b2c-4d3e-8f4a-6b5c4d3e2f1a"},
        "topology":{"kubernetes.io/hostname":"node-2"}}],
        "metadata":{"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2021-03-02T10:12:40Z"},"creationTimestamp":"2021-03-02T10:11:30Z",
        "generateName":"kube-dns-","generation":4,"labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"kube-dns"},
        "name":"kube-dns-m8xqp","namespace":"kube-system","ownerReferences":[{"apiVersion":"v1","blockOwnerDeletion":true,"controller":true,"kind":"Service","name":"kube-dns","uid":"0d3c7a9b-3c4e-4d8c-9a1f-2b2f8e6a1c55"}],
        "resourceVersion":"641","selfLink":"/apis/discovery.k8s.io/v1beta1/namespaces/kube-system/endpointslices/kube-dns-m8xqp","uid":"c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"},
        "ports":[{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"},{"name":"metrics","port":9153,"protocol":"TCP"}]}
        """#

    /// A dual-stack LoadBalancer Service with a named targetPort, affinity, Local policy and source ranges.
    static let webLoadBalancer = #"""
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop","resourceVersion":"9001","uid":"11111111-2222-3333-4444-555555555555"},
        "spec":{"clusterIP":"10.96.40.2","clusterIPs":["10.96.40.2","fd00:96::40:2"],"ipFamilies":["IPv4","IPv6"],"ipFamilyPolicy":"PreferDualStack",
        "externalIPs":["192.0.2.10"],"externalTrafficPolicy":"Local","healthCheckNodePort":31999,
        "loadBalancerSourceRanges":["198.51.100.0/24","2001:db8:100::/48"],
        "ports":[{"name":"http","nodePort":30080,"port":80,"protocol":"TCP","targetPort":"http-web"}],
        "selector":{"app":"web"},"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},"type":"LoadBalancer"},
        "status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.5"},{"ip":"2001:db8:5::5"},{"hostname":"lb.example.com"}]}}}
        """#

    /// Its slices in discovery.k8s.io/v1 (nodeName), one per family; the named port resolved to 8080.
    static let webSliceV4 = #"""
        {"addressType":"IPv4","apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
        "endpoints":[{"addresses":["10.244.2.9"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-2"},
        {"addresses":["10.244.1.8"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-1"},
        {"addresses":["10.244.1.9"],"conditions":{"ready":false,"serving":true,"terminating":true},"nodeName":"node-1"}],
        "metadata":{"labels":{"kubernetes.io/service-name":"web"},"name":"web-abcde","namespace":"shop","resourceVersion":"9010"},
        "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
        """#
    static let webSliceV6 = #"""
        {"addressType":"IPv6","apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
        "endpoints":[{"addresses":["fd00:244:1::8"],"conditions":{"ready":true},"nodeName":"node-1"}],
        "metadata":{"labels":{"kubernetes.io/service-name":"web"},"name":"web-fghij","namespace":"shop","resourceVersion":"9011"},
        "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
        """#

    /// core/v1 Endpoints for kube-dns, as the fallback reads it.
    static let kubeDNSEndpoints = #"""
        {"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"kube-dns","namespace":"kube-system","resourceVersion":"642"},
        "subsets":[{"addresses":[{"ip":"10.244.1.3","nodeName":"node-1","targetRef":{"kind":"Pod","name":"coredns-74ff55c5b-4ts8x","namespace":"kube-system"}}],
        "notReadyAddresses":[{"ip":"10.244.2.7","nodeName":"node-2"}],
        "ports":[{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"},{"name":"metrics","port":9153,"protocol":"TCP"}]}]}
        """#

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try ServiceObjectDecoding.decode(type, from: Data(text.utf8), what: "\(type)")
    }

    static func object(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }
}
