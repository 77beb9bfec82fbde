#if canImport(Glibc)
import Glibc
#endif

/// `--vxlan-tx-checksum-offload`: whether the vxlan devices compute their transmit checksums in
/// "hardware" (ethtool's tx-checksum-ip-generic).
///
/// Why it can matter (flannel#1282, kubernetes#88986): kube-proxy before 1.19 marked Service traffic for
/// masquerade (0x4000) and the mark stayed on the skb through the vxlan device, so the encapsulated
/// UDP packet was masqueraded too, with `--random-fully`. On kernels before 5.7, NAT of that outer UDP
/// header left a wrong checksum when the vxlan device offloaded it; the receiving node dropped the
/// packets ("UDP: bad checksum") and each connection through a ClusterIP whose endpoint was on another
/// node waited out SYN retransmits: 63 s (1+2+4+8+16+32). kube-proxy 1.19 clears the mark before
/// masquerading (kubernetes#92035); Calico turns the offload off on kernels before 5.7 and keeps it on
/// after, where it matters for throughput (projectcalico/calico#8746). weftd does the same by default.
public enum TxChecksumOffload: String, CaseIterable, Sendable {
    /// Off on kernels before 5.7 (or a release weftd cannot read), on from 5.7.
    case auto
    case on
    case off

    /// What weftd does to the devices, and why, in words for the log.
    public struct Decision: Equatable, Sendable {
        public let enabled: Bool
        public let reason: String
        /// `auto` could not read the kernel's release: the offload goes off, the safe side.
        public let releaseUnreadable: Bool
    }

    /// The first kernel whose NAT of a vxlan packet keeps an offloaded checksum right.
    public static let fixedIn = KernelVersion(major: 5, minor: 7)

    public func decide(kernelRelease: String) -> Decision {
        switch self {
        case .on:
            return Decision(enabled: true, reason: "--vxlan-tx-checksum-offload on", releaseUnreadable: false)
        case .off:
            return Decision(enabled: false, reason: "--vxlan-tx-checksum-offload off", releaseUnreadable: false)
        case .auto:
            guard let version = KernelVersion(release: kernelRelease) else {
                return Decision(
                    enabled: false, reason: "kernel release \"\(kernelRelease)\" unreadable: off, as a kernel before \(Self.fixedIn) needs",
                    releaseUnreadable: true)
            }
            if version < Self.fixedIn {
                return Decision(
                    enabled: false,
                    reason: "kernel \(version) is before \(Self.fixedIn): masquerading vxlan packets corrupts offloaded checksums (flannel#1282)",
                    releaseUnreadable: false)
            }
            return Decision(
                enabled: true, reason: "kernel \(version) is \(Self.fixedIn) or later: offloaded checksums survive masquerade",
                releaseUnreadable: false)
        }
    }
}

/// A kernel's major and minor version, from its release string (uname -r: "5.4.0-150-generic",
/// "4.18.0-240.el8.x86_64", "6.18.44-fc-v1300").
public struct KernelVersion: Comparable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Reads "MAJOR.MINOR" at the start of `release`, each one to four digits, the minor followed by
    /// the end or a non-digit; nil for anything else.
    public init?(release: String) {
        let bytes = Array(release.utf8)
        var position = 0
        func number() -> Int? {
            var value = 0, digits = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                digits += 1
                position += 1
                if digits > 4 { return nil }
            }
            return digits == 0 ? nil : value
        }
        guard let major = number(), position < bytes.count, bytes[position] == UInt8(ascii: "."), major > 0 else { return nil }
        position += 1
        guard let minor = number() else { return nil }
        self.init(major: major, minor: minor)
    }

    /// The running kernel's release (uname(2)), "" if it cannot be read.
    public static func runningRelease() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: &names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    public static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { "\(major).\(minor)" }
}
