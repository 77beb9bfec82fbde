import WeftAddress
import WeftIdentity

/// The MACs Weft gives pods and bridges: derived from the address, so an address handed to a new pod
/// keeps its MAC and neighbours' ARP/NDP entries for it are never stale.
enum PodMAC {
    /// With an IPv4 address: 0a:58 and its four bytes, as flannel and kube-proxy-era tooling expect;
    /// unique on the bridge because the addresses are. IPv6 only: 0e (locally administered, unicast,
    /// never 0a:58) and 40 bits of FNV-1a over all 16 bytes of the address. Taking the low bytes
    /// instead would give fd00::2 and fd00::1:0:0:2 one MAC; two addresses of one bridge now share a
    /// MAC with odds of about n²/2⁴¹ (3·10⁻⁸ at 250 pods), and never the bridge's, which `avoiding` checks.
    static func derived(from addresses: [IPAddress], avoiding reserved: [UInt8]? = nil) -> [UInt8]? {
        if let v4 = addresses.first(where: { $0.family == .v4 }) { return [0x0a, 0x58] + v4.bytes }
        guard let v6 = addresses.first else { return nil }
        var mac = hashed(v6.bytes)
        if mac == reserved { mac = hashed(v6.bytes + [1]) }
        return mac
    }

    private static func hashed(_ bytes: [UInt8]) -> [UInt8] {
        let hash = FNV1a.hash(bytes)
        return [0x0e] + (0..<5).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
    }
}
