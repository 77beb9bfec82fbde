/// Checks on names that later become file names, kernel interface names or API paths (the CNI
/// spec's rules for container IDs, network and interface names, as libcni applies them).
public enum Validation {
    /// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, the rule libcni applies to container IDs and network names.
    static func isSafeName(_ text: String) -> Bool {
        guard let first = text.utf8.first, isAlphanumeric(first) else { return false }
        return text.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
    }

    public static let maxNameLength = 253

    public static func containerID(_ id: String) throws {
        guard isSafeName(id), id.utf8.count <= maxNameLength else {
            throw CNIError(
                .invalidEnvironment, "CNI_CONTAINERID \"\(printable(id))\" is invalid",
                details: "it must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most \(maxNameLength) bytes")
        }
    }

    public static func networkName(_ name: String) throws {
        guard isSafeName(name), name.utf8.count <= maxNameLength else {
            throw CNIError(
                .invalidConfig, "name \"\(printable(name))\" is invalid",
                details: "it must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most \(maxNameLength) bytes")
        }
    }

    /// Linux interface names: 1–15 bytes, not `.` or `..`, no `/`, `:`, whitespace, or `%` (a kernel name template).
    public static func interfaceName(_ name: String, key: String) throws {
        let bytes = Array(name.utf8)
        let forbidden: Set<UInt8> = [UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "%")]
        let valid =
            !bytes.isEmpty && bytes.count <= 15 && name != "." && name != ".."
            && !bytes.contains { forbidden.contains($0) || $0 <= 0x20 || $0 == 0x7f }
        guard valid else {
            let code: CNIError.Code = key.hasPrefix("CNI_") ? .invalidEnvironment : .invalidConfig
            throw CNIError(
                code, "\(key) \"\(printable(name))\" is not a valid interface name",
                details: "it must be 1 to 15 bytes, not \".\" or \"..\", without '/', ':', '%' or whitespace")
        }
    }

    /// A Kubernetes namespace: a DNS-1123 label, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes.
    public static func isDNSLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 63, let first = bytes.first, let last = bytes.last,
            isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// A pod's name: a DNS-1123 subdomain, dot-separated labels, at most 253 bytes.
    public static func isDNSSubdomain(_ text: String) -> Bool {
        guard text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a)
    }

    /// K8S_POD_NAMESPACE and K8S_POD_NAME, which become a path of the Kubernetes API: only what the
    /// API server itself accepts for a pod.
    public static func podIdentity(namespace: String, name: String) throws {
        guard isDNSLabel(namespace) else {
            throw CNIError(
                .invalidEnvironment, "CNI_ARGS K8S_POD_NAMESPACE \"\(printable(namespace))\" is not a Kubernetes namespace",
                details: "it must be a DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes")
        }
        guard isDNSSubdomain(name) else {
            throw CNIError(
                .invalidEnvironment, "CNI_ARGS K8S_POD_NAME \"\(printable(name))\" is not a Kubernetes pod name",
                details: "it must be a DNS-1123 subdomain: dot-separated labels of [a-z0-9-], at most 253 bytes")
        }
    }

    /// The text with control characters escaped, so an error message stays one readable line.
    public static func printable(_ text: String) -> String {
        let limited = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return limited.unicodeScalars.map { scalar in
            scalar.value < 0x20 || scalar.value == 0x7f ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
    }
}
