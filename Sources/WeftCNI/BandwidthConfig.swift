import FoundationEssentials

/// The reference bandwidth plugin's four keys (`ingressRate`, `ingressBurst`, `egressRate`, `egressBurst`;
/// rates in bits per second, bursts in bits; ingress is traffic into the pod), as JSON gave them.
/// Only decoding happens here; `BandwidthLimits.validate` decides what the values mean.
///
/// Keys match in any case: containerd's and CRI-O's go-cni marshal `runtimeConfig.bandwidth` from a Go
/// struct without JSON tags (`{"IngressRate":…,"IngressBurst":…,"EgressRate":0,"EgressBurst":0}`), and Go
/// plugins read it because encoding/json ignores key case. Unknown keys are ignored, as Go does; one key
/// spelled twice (`ingressRate` and `IngressRate`) is refused, since Go would silently keep the last.
public struct BandwidthConfig: Decodable, Equatable, Sendable {
    public var ingressRate: JSONNumberLiteral?
    public var ingressBurst: JSONNumberLiteral?
    public var egressRate: JSONNumberLiteral?
    public var egressBurst: JSONNumberLiteral?

    public init(
        ingressRate: JSONNumberLiteral? = nil, ingressBurst: JSONNumberLiteral? = nil,
        egressRate: JSONNumberLiteral? = nil, egressBurst: JSONNumberLiteral? = nil
    ) {
        self.ingressRate = ingressRate
        self.ingressBurst = ingressBurst
        self.egressRate = egressRate
        self.egressBurst = egressBurst
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case ingressRate, ingressBurst, egressRate, egressBurst }

    public init(from decoder: Decoder) throws {
        // A null value counts as absent, as encoding/json leaves a Go field untouched for null.
        let container = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate)
        ingressRate = try container.decodeIfPresent(JSONNumberLiteral.self, forKey: .ingressRate)
        ingressBurst = try container.decodeIfPresent(JSONNumberLiteral.self, forKey: .ingressBurst)
        egressRate = try container.decodeIfPresent(JSONNumberLiteral.self, forKey: .egressRate)
        egressBurst = try container.decodeIfPresent(JSONNumberLiteral.self, forKey: .egressBurst)
    }
}

/// A JSON value read where a whole number is expected, kept as text so that validation can tell 1.5,
/// -3 and 18446744073709551616 from an integer and quote them. JSONDecoder would turn 1.5 into a Double
/// and, asked for a UInt64, silently read 1.0000000000000000001 as 1; Decimal keeps 38 exact digits.
public enum JSONNumberLiteral: Decodable, Equatable, Sendable {
    /// A number as exact decimal text without exponent ("8000000", "1.5", "-3"); beyond Decimal's range
    /// (about 1e127) Double's text ("1e+200").
    case number(String)
    /// A number too large for any Swift number type (beyond about 1.8e308).
    case unrepresentable
    /// Another JSON value, as JSON text ("\"8000\"", "true", "[1]").
    case other(String)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let decimal = try? container.decode(Decimal.self) {
            self = .number(decimal.description)
        } else if let value = try? container.decode(JSONValue.self) {
            if case .number(let text) = value { self = .number(text) } else { self = .other(value.text) }
        } else {
            self = .unrepresentable
        }
    }

    /// Builds the literal a JSON text holds, for tests and callers holding a number.
    public init(_ value: UInt64) { self = .number(String(value)) }

    /// The value as an error message shows it.
    public var text: String {
        switch self {
        case .number(let text): return text
        case .unrepresentable: return "(a number beyond 1.8e308)"
        case .other(let text): return Validation.printable(text)
        }
    }

    /// The value when it is a whole number from 0 to UInt64.max.
    var unsignedInteger: UInt64? {
        guard case .number(let text) = self else { return nil }
        return UInt64(text)
    }
}
