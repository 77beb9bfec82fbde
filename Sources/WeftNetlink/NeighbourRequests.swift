import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// Builders for the neighbour table (IP → MAC, family AF_INET/AF_INET6) and a vxlan device's
/// forwarding database (MAC → remote underlay IP, family AF_BRIDGE with NTF_SELF): both travel as
/// RTM_*NEIGH messages with an ndmsg header.
public enum NeighbourRequests {
    /// A permanent entry never expires and is never probed: the agent is its only source of truth.
    static let permanent = UInt16(NUD_PERMANENT)

    static func header(family: UInt8, index: Int32, state: UInt16 = 0, flags: UInt8 = 0) -> ndmsg {
        var header = ndmsg()
        header.ndm_family = family
        header.ndm_ifindex = index
        header.ndm_state = state
        header.ndm_flags = flags
        return header
    }

    /// `address` answers to `mac` on `index`, without ARP: the remote VTEP never needs to be asked.
    public static func replaceNeighbour(_ entry: FabricNeighbour) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWNEIGH), flags: OverlayRequests.replace)
        request.putStruct(header(family: UInt8(entry.address.family.socketFamily), index: entry.index, state: permanent))
        request.put(Int(NDA_DST), bytes: entry.address.bytes)
        request.put(Int(NDA_LLADDR), bytes: entry.mac)
        return request
    }

    public static func deleteNeighbour(address: IPAddress, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELNEIGH), flags: NLM_F_ACK)
        request.putStruct(header(family: UInt8(address.family.socketFamily), index: index))
        request.put(Int(NDA_DST), bytes: address.bytes)
        return request
    }

    /// With strict checking the kernel wants ndm_ifindex zero in a neighbour dump and takes the
    /// link filter as NDA_IFINDEX.
    public static func dumpNeighbours(family: IPAddress.Family, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETNEIGH), flags: NLM_F_DUMP)
        request.putStruct(header(family: UInt8(family.socketFamily), index: 0))
        request.put(Int(NDA_IFINDEX), u32: UInt32(bitPattern: index))
        return request
    }

    /// Frames for `mac` are sent, encapsulated, to `remote`. NTF_SELF addresses the vxlan device's own
    /// table (not a bridge master's).
    public static func replaceForwarding(_ entry: FabricForwarding) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWNEIGH), flags: OverlayRequests.replace)
        request.putStruct(header(family: UInt8(AF_BRIDGE), index: entry.index, state: permanent, flags: UInt8(NTF_SELF)))
        request.put(Int(NDA_LLADDR), bytes: entry.mac)
        request.put(Int(NDA_DST), bytes: entry.remote.bytes)
        return request
    }

    /// Naming the remote deletes only that destination of the entry, never another one added by hand.
    public static func deleteForwarding(_ entry: FabricForwarding) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELNEIGH), flags: NLM_F_ACK)
        request.putStruct(header(family: UInt8(AF_BRIDGE), index: entry.index, flags: UInt8(NTF_SELF)))
        request.put(Int(NDA_LLADDR), bytes: entry.mac)
        request.put(Int(NDA_DST), bytes: entry.remote.bytes)
        return request
    }

    /// An FDB dump takes the device filter in ndm_ifindex; for a device that is no bridge port the
    /// kernel asks the device itself (vxlan) for its table.
    public static func dumpForwarding(index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETNEIGH), flags: NLM_F_DUMP)
        request.putStruct(header(family: UInt8(AF_BRIDGE), index: index))
        return request
    }
}
