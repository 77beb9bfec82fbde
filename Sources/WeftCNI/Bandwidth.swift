/// Per-pod traffic shaping as the reference bandwidth plugin defines it: each direction a token bucket
/// (TBF) with a rate in bits per second and a burst in bits. Ingress (into the pod) is shaped by a TBF on
/// the host veth; egress (out of the pod) by a TBF on an IFB device the host veth's ingress is redirected to.
public struct BandwidthLimits: Equatable, Sendable {
    /// One direction's token bucket, in the units of the configuration.
    public struct Shaping: Equatable, Sendable {
        public let rateBitsPerSecond: UInt64
        public let burstBits: UInt64

        public init(rateBitsPerSecond: UInt64, burstBits: UInt64) {
            self.rateBitsPerSecond = rateBitsPerSecond
            self.burstBits = burstBits
        }

        /// The kernel counts bytes; like the reference plugin, Weft drops the remainder of a division by 8.
        public var rateBytesPerSecond: UInt64 { rateBitsPerSecond / 8 }
        public var burstBytes: UInt64 { burstBits / 8 }
    }

    /// Traffic into the pod.
    public let ingress: Shaping?
    /// Traffic out of the pod.
    public let egress: Shaping?

    public init(ingress: Shaping?, egress: Shaping?) {
        self.ingress = ingress
        self.egress = egress
    }

    /// 8 bits, one byte: below it the rate or burst in bytes is 0. The kernel refuses a zero burst
    /// (EINVAL) and a zero rate would divide by zero when the buffer time is computed.
    public static let minimumBits: UInt64 = 8

    /// TBF takes the burst as a 32-bit byte count (TCA_TBF_BURST, the bucket's size `max_size`), so the
    /// largest burst is 4294967295 bytes: 34359738367 bits, the remainder of /8 being dropped. CRI-O
    /// sends 34359738359 (4 GiB less a byte) and containerd 4294967295 bits for every annotated pod.
    ///
    /// No bound tighter than this is imposed on the pair. The buffer time (burst / rate) can exceed the
    /// 32 bits of psched ticks (64 ns each: 274.9 s) that the kernel's dump reports, e.g. containerd's
    /// burst at rates below 15.6 Mbit/s; the kernel still shapes exactly, because it derives the buffer
    /// from TCA_TBF_BURST and keeps it as 64-bit nanoseconds. Refusing would fail every such pod.
    public static let maximumBurstBits: UInt64 = UInt64(UInt32.max) * 8 + 7

    // The rate has no kernel bound below UInt64's: TCA_TBF_RATE64 holds bytes per second in 64 bits,
    // and the configuration's bits per second divided by 8 always fit.

    /// Validates the four keys; nil when neither direction is shaped. `keyPrefix` is where the keys sit,
    /// for messages: "runtimeConfig.bandwidth" gives "runtimeConfig.bandwidth.ingressRate", "" gives "ingressRate".
    ///
    /// A direction whose rate and burst are both 0 or absent is not shaped: go-cni always writes all four
    /// keys, with 0 for the direction without an annotation, and the reference plugin reads 0 as unset.
    public static func validate(_ config: BandwidthConfig, keyPrefix: String) throws -> BandwidthLimits? {
        func key(_ name: String) -> String { keyPrefix.isEmpty ? name : "\(keyPrefix).\(name)" }
        let ingress = try direction(rate: (key("ingressRate"), config.ingressRate), burst: (key("ingressBurst"), config.ingressBurst))
        let egress = try direction(rate: (key("egressRate"), config.egressRate), burst: (key("egressBurst"), config.egressBurst))
        if ingress == nil && egress == nil { return nil }
        return BandwidthLimits(ingress: ingress, egress: egress)
    }

    private typealias Entry = (key: String, value: JSONNumberLiteral?)

    private static func direction(rate: Entry, burst: Entry) throws -> Shaping? {
        let rateValue = try rate.value.map { try wholeNumber($0, key: rate.key, unit: "bits per second") }
        let burstValue = try burst.value.map { try wholeNumber($0, key: burst.key, unit: "bits") }
        if (rateValue ?? 0) == 0 && (burstValue ?? 0) == 0 { return nil }
        guard let rateBits = rateValue else {
            throw CNIError(
                .invalidConfig, "\(burst.key) \(burstValue ?? 0) is set without \(rate.key)",
                details: "a rate and a burst shape traffic together: set both, or neither")
        }
        guard let burstBits = burstValue else {
            throw CNIError(
                .invalidConfig, "\(rate.key) \(rateBits) is set without \(burst.key)",
                details: "a rate and a burst shape traffic together: set both, or neither")
        }
        guard rateBits >= minimumBits else {
            throw CNIError(
                .invalidConfig, "\(rate.key) \(rateBits) is below \(minimumBits) bits per second",
                details: "the kernel shapes in whole bytes per second; 0 for both \(rate.key) and \(burst.key) leaves traffic unshaped")
        }
        guard burstBits >= minimumBits else {
            throw CNIError(
                .invalidConfig, "\(burst.key) \(burstBits) is below \(minimumBits) bits",
                details: "the kernel's token bucket holds whole bytes and refuses an empty one")
        }
        guard burstBits <= maximumBurstBits else {
            throw CNIError(
                .invalidConfig, "\(burst.key) \(burstBits) is above \(maximumBurstBits) bits",
                details: "the kernel holds a token bucket's burst as a 32-bit count of bytes (at most 4 GiB)")
        }
        return Shaping(rateBitsPerSecond: rateBits, burstBits: burstBits)
    }

    /// A whole number from 0 to UInt64.max; anything else is refused with the key and the value.
    private static func wholeNumber(_ literal: JSONNumberLiteral, key: String, unit: String) throws -> UInt64 {
        if let value = literal.unsignedInteger { return value }
        let found = literal.text
        let problem: String
        switch literal {
        case .other:
            problem = "is not a number"
        case .number(let text) where text.hasPrefix("-"):
            problem = "is negative"
        case .number(let text) where text.contains(".") && !text.contains("e"):
            problem = "is not a whole number"
        case .number, .unrepresentable:
            problem = "is too large"
        }
        throw CNIError(
            .invalidConfig, "\(key) \(found) \(problem)",
            details: "it must be a whole number of \(unit) from 0 to \(UInt64.max)")
    }

    /// The pod's limits: each direction from `runtimeConfig.bandwidth` when it shapes that direction,
    /// else from the network's `bandwidth`. Both are validated in full, so a bad value anywhere is refused.
    public static func resolve(network: BandwidthConfig?, runtime: BandwidthConfig?) throws -> BandwidthLimits? {
        let byNetwork = try network.flatMap { try validate($0, keyPrefix: "bandwidth") }
        let byRuntime = try runtime.flatMap { try validate($0, keyPrefix: "runtimeConfig.bandwidth") }
        let ingress = byRuntime?.ingress ?? byNetwork?.ingress
        let egress = byRuntime?.egress ?? byNetwork?.egress
        return ingress == nil && egress == nil ? nil : BandwidthLimits(ingress: ingress, egress: egress)
    }
}
