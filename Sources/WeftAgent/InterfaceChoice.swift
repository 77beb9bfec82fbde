import Foundation
import WeftAddress
import WeftNetlink

/// flanneld's `--iface-regex`: the underlay link picked by a pattern matched against the links'
/// IPv4 addresses first, then their names. Each pattern is tried in the order given, and the first
/// pattern that matches anything decides; within one pattern an address match on any link wins over
/// a name match, as flanneld's LookupExtIface does. The match is unanchored (Go's regexp.MatchString
/// finds the pattern anywhere; `^eth` and `^10\.0\.` anchor it).
public enum InterfaceChoice {
    /// One link of the node as the choice sees it: its name and its IPv4 addresses, in the kernel's order.
    public struct Candidate: Equatable, Sendable {
        public let name: String
        public let addresses: [IPAddress]

        public init(name: String, addresses: [IPAddress]) { self.name = name; self.addresses = addresses }
    }

    /// The link chosen and, when the pattern matched one of its addresses, that address (flanneld then
    /// uses it as the node's PublicIP rather than the link's first address).
    public struct Choice: Equatable, Sendable {
        public let name: String
        public let address: IPAddress?
    }

    /// The first match of `patterns` among `candidates` (in the kernel's link order); an error naming
    /// the patterns and the links when none matches, or when a pattern is not a regular expression.
    public static func choose(patterns: [String], candidates: [Candidate]) throws -> Choice {
        for pattern in patterns {
            let expression: NSRegularExpression
            do {
                expression = try NSRegularExpression(pattern: pattern)
            } catch {
                throw AgentError(.invalidConfig, "--iface-regex \(pattern): not a regular expression")
            }
            func matches(_ text: String) -> Bool {
                expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            }
            for candidate in candidates {
                if let address = candidate.addresses.first(where: { matches("\($0)") }) {
                    return Choice(name: candidate.name, address: address)
                }
            }
            if let candidate = candidates.first(where: { matches($0.name) }) {
                return Choice(name: candidate.name, address: nil)
            }
        }
        let available = candidates.map { "\($0.name) (\($0.addresses.map(\.description).joined(separator: ", ")))" }
        throw AgentError(
            .node,
            "--iface-regex \(patterns.joined(separator: " ")): no link's IPv4 address or name matches; links: "
                + available.joined(separator: ", "))
    }

    /// The links of this network namespace, read through netlink: every link but loopback (flanneld
    /// skips it too: it carries no traffic to another node).
    public static func candidates() throws -> [Candidate] {
        let netlink = RouteNetlink(handle: .current())
        return try netlink.links().filter { $0.name != "lo" }.map { link in
            Candidate(name: link.name, addresses: try netlink.addresses(index: link.index).filter { $0.family == .v4 }.map(\.address))
        }
    }
}
