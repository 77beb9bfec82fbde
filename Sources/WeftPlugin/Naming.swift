import WeftCNI

/// Names Weft derives, so DEL, CHECK and GC find what ADD made without any cache.
enum Naming {
    /// The host end of a pod's veth: "veth" and 8 hex digits of a hash of network, container ID and ifname.
    /// 32 bits keep it within the kernel's 15 bytes; a collision is refused at create (EEXIST), never reused.
    static func hostVeth(network: String, containerID: String, ifname: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in Array(network.utf8) + [0] + Array(containerID.utf8) + [0] + Array(ifname.utf8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        let folded = UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
        let hex = String(folded, radix: 16)
        return "veth" + String(repeating: "0", count: 8 - hex.count) + hex
    }
}
