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
}

/// From the API's JSON: `matchLabels` strings only; an operator this layer does not know, or In and
/// NotIn without values, refused by its key path (a selector read wrong could select too few pods).
extension LabelSelector: Decodable {
    private enum Keys: String, CodingKey { case matchLabels, matchExpressions }

    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: Keys.self)
        self.init(
            matchLabels: try fields.decodeIfPresent([String: String].self, forKey: .matchLabels) ?? [:],
            requirements: try fields.decodeIfPresent([Requirement].self, forKey: .matchExpressions) ?? [])
    }
}

extension LabelSelector.Requirement: Decodable {
    private enum Keys: String, CodingKey { case key, `operator`, values }

    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: Keys.self)
        let key = try fields.decode(String.self, forKey: .key)
        let text = try fields.decode(String.self, forKey: .operator)
        guard let op = LabelSelector.Operator(rawValue: text) else { throw refused(fields.codingPath, "unknown operator \(text)") }
        let values = Set(try fields.decodeIfPresent([String].self, forKey: .values) ?? [])
        if (op == .in || op == .notIn) && values.isEmpty { throw refused(fields.codingPath, "\(text) needs values") }
        self.init(key: key, op: op, values: values)
    }
}
