import WeftAddress

/// Addresses a Service may never take as a frontend or send to as an endpoint, whatever the API says:
/// loopback (a pod must not reach the node's loopback-only listeners: CVE-2020-8558's class, which
/// `route_localnet=1` would open), link-local (the cloud's metadata server, 169.254.169.254),
/// unspecified, multicast and broadcast.
public enum ServiceAddresses {
    public static func isServable(_ address: IPAddress) -> Bool {
        let b = address.bytes
        if address.isIPv4 {
            return b[0] != 127 && b[0] != 0 && !(b[0] == 169 && b[1] == 254) && b[0] < 224
        }
        let unspecified = b.allSatisfy { $0 == 0 }
        let loopback = b.dropLast().allSatisfy { $0 == 0 } && b[15] == 1
        return !unspecified && !loopback && !address.isIPv6LinkLocal && b[0] != 0xff
    }
}
