/// A Kubernetes object weftd cannot compile, named by where in it the problem is. The API server
/// validates NetworkPolicies, so in practice this means an object from a newer API than weftd knows.
public struct PolicyError: Error, Equatable, CustomStringConvertible {
    public let object: String
    public let path: String
    public let problem: String

    public init(_ object: String, _ path: String, _ problem: String) {
        self.object = object
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(object): \(path): \(problem)" }
}
