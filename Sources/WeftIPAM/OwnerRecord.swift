import WeftAddress
import WeftIdentity

/// The owner file: one `key=value` per line, so later versions can add keys that older ones ignore.
///   container=<full container ID>      the file's name holds only its key (AttachmentID.recordName)
///   netns=/var/run/netns/cni-1234      the path the runtime gave
///   netnsID=4:4026532890                its device and inode when reserved, to tell a recycled path
///   created=1700000000                  seconds since the epoch
///   address=10.244.1.5                  one line per address held
///   hostport=tcp/8080/80/10.0.0.1       one line per hostPort (hostIP empty for every address)
///   uplink=eth1                         the routed datapath's uplink: its rules and proxy entries name the addresses
///   device=eni1                         the device datapath's interface (its name on the node), and
///   deviceMTU=1500                      its MTU there, given back with it
struct OwnerRecord: Equatable {
    /// Empty in records written before it was kept, or adopted from a link alias: the name's key stands in.
    var containerID: String
    var netns: String
    var netnsID: String
    var created: Int
    var addresses: [IPAddress]
    var hostPorts: [PortMapping] = []
    var uplink: String?
    var device: String?
    var deviceMTU: UInt32?

    init(containerID: String, netns: String, netnsID: String, created: Int, addresses: [IPAddress]) {
        self.containerID = containerID
        self.netns = netns
        self.netnsID = netnsID
        self.created = created
        self.addresses = addresses
    }

    init(text: String) {
        containerID = ""
        netns = ""
        netnsID = ""
        created = 0
        addresses = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let value = String(parts[1])
            switch parts[0] {
            case "container": containerID = value
            case "netns": netns = value
            case "netnsID": netnsID = value
            case "created": created = Int(value) ?? 0
            case "address": if let address = IPAddress(value) { addresses.append(address) }
            case "hostport": if let mapping = Self.mapping(value) { hostPorts.append(mapping) }
            case "uplink": uplink = value
            case "device": device = value
            case "deviceMTU": deviceMTU = UInt32(value)
            default: continue
            }
        }
    }

    var text: String {
        ((containerID.isEmpty ? [] : ["container=\(containerID)"]) + ["netns=\(netns)", "netnsID=\(netnsID)", "created=\(created)"]
            + addresses.map { "address=\($0)" }
            + hostPorts.map { "hostport=\($0.proto.name)/\($0.hostPort)/\($0.containerPort)/\($0.hostIP?.description ?? "")" }
            + (uplink.map { ["uplink=\($0)"] } ?? []) + (device.map { ["device=\($0)"] } ?? [])
            + (deviceMTU.map { ["deviceMTU=\($0)"] } ?? []))
            .joined(separator: "\n") + "\n"
    }

    static func mapping(_ text: String) -> PortMapping? {
        let fields = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let proto = TransportProtocol(name: String(fields[0])),
            let hostPort = UInt16(fields[1]), let containerPort = UInt16(fields[2])
        else { return nil }
        return PortMapping(
            proto: proto, hostPort: hostPort, containerPort: containerPort,
            hostIP: fields[3].isEmpty ? nil : IPAddress(fields[3]))
    }
}

/// The address file: who holds it. host-local's format, so an imported store reads the same.
enum HolderRecord {
    static func text(_ owner: AttachmentID) -> String { "\(owner.containerID)\n\(owner.ifname)\n" }

    static func owner(from text: String, network: String) -> AttachmentID? {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let id = lines.first, !id.isEmpty else { return nil }
        return AttachmentID(network: network, containerID: id, ifname: lines.count > 1 ? lines[1] : "")
    }
}
