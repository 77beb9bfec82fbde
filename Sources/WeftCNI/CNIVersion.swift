/// A CNI spec version. Weft speaks every released one and answers in the shape each defines.
public struct CNIVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let major: Int, minor: Int, patch: Int

    public static let supported: [CNIVersion] = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"].compactMap(CNIVersion.init)
    public static let latest = CNIVersion(major: 1, minor: 1, patch: 0)
    /// What a config without `cniVersion` means, as libcni reads it.
    public static let implicit = CNIVersion(major: 0, minor: 1, patch: 0)
    public static let check = CNIVersion(major: 0, minor: 4, patch: 0)
    public static let statusAndGC = CNIVersion(major: 1, minor: 1, patch: 0)

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major; self.minor = minor; self.patch = patch
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let major = Int(parts[0]), let minor = Int(parts[1]), let patch = Int(parts[2])
        else { return nil }
        self.init(major: major, minor: minor, patch: patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
    public var isSupported: Bool { CNIVersion.supported.contains(self) }

    public static func < (a: CNIVersion, b: CNIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    /// Parses a config's `cniVersion`, refusing what Weft cannot answer in (code 1).
    public static func negotiate(_ text: String?) throws -> CNIVersion {
        guard let text else { return .implicit }
        guard let version = CNIVersion(text), version.isSupported else {
            throw CNIError(
                .incompatibleVersion,
                "cniVersion \"\(text)\" is not supported",
                details: "supported versions: \(supported.map(\.description).joined(separator: ", "))")
        }
        return version
    }
}
