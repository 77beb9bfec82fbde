import WeftKube
/// Where a Service's endpoints come from, as the API server serves them: EndpointSlice in
/// discovery.k8s.io/v1 (1.21+), else v1beta1 (1.17–1.24; Kubernetes 1.20 serves only this), else
/// core/v1 Endpoints (a server with the EndpointSlice API turned off).
public enum ServiceEndpointSource: String, Sendable, CaseIterable {
    case sliceV1 = "discovery.k8s.io/v1"
    case sliceV1beta1 = "discovery.k8s.io/v1beta1"
    case endpoints = "v1 Endpoints"

    /// The collection the informer follows.
    public var path: String {
        switch self {
        case .sliceV1: "/apis/discovery.k8s.io/v1/endpointslices"
        case .sliceV1beta1: "/apis/discovery.k8s.io/v1beta1/endpointslices"
        case .endpoints: "/api/v1/endpoints"
        }
    }

    /// The first the server serves: a group version whose discovery document (GET /apis/<group>/<version>)
    /// lists `endpointslices`. A 404 is "not served"; any other failure is thrown (weftd must not settle
    /// on Endpoints because the server was briefly unreachable).
    static func discover(client: KubeClient) async throws -> ServiceEndpointSource {
        for source in [ServiceEndpointSource.sliceV1, .sliceV1beta1] {
            guard let document = try await client.object("/apis/\(source.rawValue)") else { continue }
            let resources = document["resources"] as? [[String: Any]] ?? []
            if resources.contains(where: { $0["name"] as? String == "endpointslices" }) { return source }
        }
        return .endpoints
    }
}
