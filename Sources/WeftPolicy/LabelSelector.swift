/// A Kubernetes label selector (`matchLabels` and `matchExpressions`, ANDed). The empty selector
/// matches everything; an absent one is not a selector at all (callers keep it as nil).
public struct LabelSelector: Equatable, Hashable, Sendable {
    public enum Operator: String, Sendable { case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist" }

    public struct Requirement: Equatable, Hashable, Sendable {
        public let key: String
        public let op: Operator
        public let values: Set<String>

        func matches(_ labels: [String: String]) -> Bool {
            switch op {
            case .in: return labels[key].map(values.contains) ?? false
            case .notIn: return labels[key].map { !values.contains($0) } ?? true
            case .exists: return labels[key] != nil
            case .doesNotExist: return labels[key] == nil
            }
        }
    }

    public let matchLabels: [String: String]
    public let requirements: [Requirement]

    public init(matchLabels: [String: String] = [:], requirements: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.requirements = requirements
    }

    public static let everything = LabelSelector()

    public func matches(_ labels: [String: String]) -> Bool {
        matchLabels.allSatisfy { labels[$0.key] == $0.value } && requirements.allSatisfy { $0.matches(labels) }
    }

    /// From the API's JSON (or YAML) object.
    init(_ value: Any?, object: String, path: String) throws {
        guard let value else { self.init(); return }
        guard let fields = value as? [String: Any] else { throw PolicyError(object, path, "not an object") }
        var labels: [String: String] = [:]
        for (key, raw) in fields["matchLabels"] as? [String: Any] ?? [:] {
            guard let text = raw as? String else { throw PolicyError(object, "\(path).matchLabels.\(key)", "not a string") }
            labels[key] = text
        }
        var requirements: [Requirement] = []
        for (index, raw) in (fields["matchExpressions"] as? [Any] ?? []).enumerated() {
            let at = "\(path).matchExpressions[\(index)]"
            guard let expression = raw as? [String: Any], let key = expression["key"] as? String,
                let opText = expression["operator"] as? String
            else { throw PolicyError(object, at, "needs key and operator") }
            guard let op = Operator(rawValue: opText) else { throw PolicyError(object, at, "unknown operator \(opText)") }
            let values = Set((expression["values"] as? [Any] ?? []).compactMap { $0 as? String })
            if (op == .in || op == .notIn) && values.isEmpty { throw PolicyError(object, at, "\(opText) needs values") }
            requirements.append(Requirement(key: key, op: op, values: values))
        }
        self.init(matchLabels: labels, requirements: requirements)
    }
}
