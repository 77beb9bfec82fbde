import CMnl
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// Traffic-control handles: 16 bits of major, 16 of minor (`1:` is 0x0001_0000). The uapi's TC_H_MAKE,
/// TC_H_MAJ and TC_H_MIN are function-like macros, which Swift does not import.
public enum TrafficHandle {
    public static func make(major: UInt16, minor: UInt16) -> UInt32 { UInt32(major) << 16 | UInt32(minor) }
    public static func major(_ handle: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: handle >> 16) }
    public static func minor(_ handle: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: handle) }

    /// TC_H_ROOT: the parent of a device's root (transmit) qdisc.
    public static let root = UInt32(TC_H_ROOT)
    /// TC_H_INGRESS: the parent of a device's ingress qdisc.
    public static let ingress = UInt32(TC_H_INGRESS)
    /// `1:`, the shaping TBF's handle, as the reference plugin gives it.
    public static let tokenBucket = make(major: 1, minor: 0)
    /// `ffff:`, the ingress qdisc's handle: its filters name it as their parent.
    public static let ingressQdisc = make(major: 0xffff, minor: 0)

    /// tc's notation: "root", "ingress", "1:", "ffff:", "1:2".
    public static func text(_ handle: UInt32) -> String {
        switch handle {
        case root: return "root"
        case ingress: return "ingress"
        default:
            let minorText = minor(handle) == 0 ? "" : String(minor(handle), radix: 16)
            return String(major(handle), radix: 16) + ":" + minorText
        }
    }
}

/// The kernel's packet-scheduler clock, which TBF's buffer (the burst's transmission time) is counted in.
/// Modern kernels tick every 64 ns (PSCHED_SHIFT 6); iproute2 and the reference plugin read the tick from
/// /proc/net/psched rather than assume it, and so does Weft.
public struct PacketSchedulerClock: Equatable, Sendable {
    public let nanosecondsPerTick: Double

    public init(nanosecondsPerTick: Double) { self.nanosecondsPerTick = nanosecondsPerTick }

    /// Parses /proc/net/psched: "t2us us2t clock_res hrtimer_res" in hex. As iproute2's tc_core_init:
    /// ticks per microsecond = t2us / us2t × clock_res / 10^6, where a clock_res of 10^9 means t2us = us2t
    /// (a compatibility value for old iproute2). Today's kernels print "000003e8 00000040 000f4240 …".
    public init?(psched text: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0, radix: 16) }
        guard fields.count >= 3, fields[0] > 0, fields[1] > 0, fields[2] > 0 else { return nil }
        let usToTicks = Double(fields[1])
        let ticksToUs = fields[2] == 1_000_000_000 ? usToTicks : Double(fields[0])
        let ticksPerMicrosecond = ticksToUs / usToTicks * (Double(fields[2]) / 1_000_000)
        nanosecondsPerTick = 1000 / ticksPerMicrosecond
    }

    /// The running kernel's clock, read once per process.
    public static func system() throws -> PacketSchedulerClock { try systemClock.get() }

    private static let systemClock: Result<PacketSchedulerClock, SystemError> = {
        let path = "/proc/net/psched"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(SystemError.last("open", path)) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count: Int
        do {
            count = try retryingOnInterrupt("read", path) { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
        } catch let error as SystemError {
            return .failure(error)
        } catch {
            return .failure(SystemError("read", path, errno: EIO))
        }
        guard let clock = PacketSchedulerClock(psched: String(decoding: buffer[0..<count], as: UTF8.self)) else {
            // Not the four hex numbers every kernel since 2.6.25 prints.
            return .failure(SystemError("parse", path, errno: EINVAL))
        }
        return .success(clock)
    }()
}

extension NetlinkRequest {
    public func put(_ type: Int, u64 value: UInt64) { mnl_attr_put_u64(header, UInt16(type), value) }

    /// A C struct as an attribute's value (tc_tbf_qopt, tc_mirred): its bytes in host order.
    public func put<T>(_ type: Int, structure value: T) {
        withUnsafeBytes(of: value) { mnl_attr_put(header, UInt16(type), $0.count, $0.baseAddress) }
    }
}
