#if canImport(Glibc)
import Glibc
#endif

/// A TBF's parameters, computed from a rate in bits per second and a burst in bits as the reference
/// bandwidth plugin computes them (plugins/meta/bandwidth, createTBF): rate and burst in bytes (bits / 8,
/// remainder dropped); limit = rate × 25 ms + burst, so the queue holds 25 ms of traffic beyond a full
/// bucket; buffer = the burst's transmission time at the rate, in psched ticks.
public struct TokenBucket: Equatable, Sendable {
    /// The reference plugin's latency: how long a packet may wait in the queue once the bucket is empty.
    public static let latencyMicroseconds: UInt64 = 25_000

    public let rateBytesPerSecond: UInt64
    /// TCA_TBF_BURST: the bucket's size in bytes. The kernel derives its buffer time from it.
    public let burstBytes: UInt32
    /// tc_tbf_qopt.limit: bytes that may queue. Clamped to 32 bits: a burst near 4 GiB (CRI-O's) or a
    /// rate above 1.37 Tbit/s would wrap it (the reference plugin's uint32 wraps to a tiny queue).
    public let limitBytes: UInt32
    /// The buffer time, burst / rate, in ticks. It can exceed 32 bits (274.9 s at 64 ns a tick, e.g.
    /// containerd's burst of 2^32-1 bits below 15.6 Mbit/s): the kernel keeps it as 64-bit ns.
    public let bufferTicks: UInt64

    /// Throws a validation NetlinkError (EINVAL) when a value is out of what TBF takes; BandwidthLimits.validate refuses those first.
    public init(rateBitsPerSecond: UInt64, burstBits: UInt64, clock: PacketSchedulerClock) throws {
        let rate = rateBitsPerSecond / 8
        let burst = burstBits / 8
        guard rate > 0 else { throw NetlinkError.invalid("shape traffic", "token bucket rate \(rateBitsPerSecond) bit/s is below 1 byte/s") }
        guard burst > 0, burst <= UInt64(UInt32.max) else {
            throw NetlinkError.invalid("shape traffic", "token bucket burst \(burstBits) bit is not 1 to 4294967295 bytes")
        }
        rateBytesPerSecond = rate
        burstBytes = UInt32(burst)
        // rate × 25 ms in whole bytes, as the reference's float computation truncates; rate / 40 is exact.
        let queued = rate / (1_000_000 / Self.latencyMicroseconds)
        limitBytes = UInt32(clamping: queued + burst)
        // burst < 2^32 and 10^9 < 2^30: the product fits 64 bits, and the division is exact to the nanosecond.
        let nanoseconds = burst * 1_000_000_000 / rate
        bufferTicks = UInt64(Double(nanoseconds) / clock.nanosecondsPerTick)
    }

    /// Whether `installed`, read back from the kernel, is this bucket. Rate and limit come back exactly.
    /// The buffer comes back as the kernel's own burst-to-time conversion (a reciprocal multiply, off by
    /// a little) truncated to the 32 bits of tc_tbf_qopt.buffer, so it is compared modulo 2^32 with a
    /// tolerance of two ticks plus one millionth.
    public func matches(_ installed: InstalledTokenBucket) -> Bool {
        guard installed.rateBytesPerSecond == rateBytesPerSecond, installed.limitBytes == limitBytes else { return false }
        let difference = Int32(bitPattern: installed.bufferTicks &- UInt32(truncatingIfNeeded: bufferTicks))
        let tolerance = min(2 + bufferTicks >> 20, 1 << 30)
        return UInt64(difference.magnitude) <= tolerance
    }
}

/// A TBF as the kernel reports it in a qdisc dump (tc_tbf_qopt and TCA_TBF_RATE64).
public struct InstalledTokenBucket: Equatable, Sendable {
    public let rateBytesPerSecond: UInt64
    /// The buffer time in psched ticks, truncated to 32 bits by the kernel.
    public let bufferTicks: UInt32
    public let limitBytes: UInt32

    public init(rateBytesPerSecond: UInt64, bufferTicks: UInt32, limitBytes: UInt32) {
        self.rateBytesPerSecond = rateBytesPerSecond
        self.bufferTicks = bufferTicks
        self.limitBytes = limitBytes
    }

    /// The bucket's size in bytes the buffer time stands for (rate × time), when the ticks did not wrap.
    public func approximateBurstBytes(clock: PacketSchedulerClock) -> UInt64 {
        UInt64(Double(bufferTicks) * clock.nanosecondsPerTick * Double(rateBytesPerSecond) / 1e9)
    }
}
