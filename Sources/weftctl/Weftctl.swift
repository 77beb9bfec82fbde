import ArgumentParser
import FoundationEssentials
import WeftCNI
import WeftIPAM
import WeftNftables
import WeftAgentState
import WeftPlugin
#if canImport(Glibc)
import Glibc
#endif

@main
struct Weftctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weftctl",
        abstract: "Inspect and maintain Weft on a node.",
        subcommands: [IPAM.self, Nft.self, AgentCommand.self, PolicyCommand.self, ServicesCommand.self])
}

struct IPAM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipam",
        abstract: "The address store: list, reclaim, import.",
        subcommands: [List.self, Collect.self, Import.self])
}

/// Options every ipam subcommand shares.
struct StoreOptions: ParsableArguments {
    @Option(help: "The IPAM store root (the config's dataDir).")
    var dataDir: String = NetworkPlan.defaultDataDir

    @Option(help: "Only this network (the config's name).")
    var network: String?

    /// The networks to act on: the one named, or every directory under the store root.
    func networks() throws -> [String] {
        if let network {
            try Validation.networkName(network)
            return [network]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dataDir)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }
}

extension IPAM {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List reservations: live, or stale (netns gone).")

        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        struct NetworkListing: Encodable {
            let network: String
            let medium: String
            let reservations: [ReservationInfo]
        }

        func run() throws {
            let listings = try store.networks().map { name -> NetworkListing in
                let fileStore = FileStore(dataDir: store.dataDir, network: name)
                return NetworkListing(network: name, medium: fileStore.medium.rawValue, reservations: try fileStore.list())
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(listings), as: UTF8.self))
                return
            }
            let now = Int(Date().timeIntervalSince1970)
            for listing in listings {
                print("network \(listing.network) (store on \(listing.medium)): \(listing.reservations.count) reservation(s)")
                print(["ADDRESS", "CONTAINER", "IFNAME", "AGE", "STATE", "NETNS"].joined(separator: "\t"))
                for item in listing.reservations {
                    let age = item.created > 0 ? formatAge(now - item.created) : "-"
                    print(
                        [
                            item.addresses.joined(separator: ","), item.containerID, item.ifname, age, item.state,
                            item.netns.isEmpty ? "-" : item.netns,
                        ].joined(separator: "\t"))
                }
            }
        }

        func formatAge(_ seconds: Int) -> String {
            seconds < 120 ? "\(seconds)s" : seconds < 7200 ? "\(seconds / 60)m" : seconds < 172_800 ? "\(seconds / 3600)h" : "\(seconds / 86400)d"
        }
    }

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc", abstract: "Release reservations whose network namespace no longer exists.")

        @OptionGroup var store: StoreOptions
        @Flag(help: "Only say what would be released.") var dryRun = false

        func run() throws {
            for name in try store.networks() {
                let reclaimed = try FileStore(dataDir: store.dataDir, network: name).reclaimStale(dryRun: dryRun)
                for owner in reclaimed {
                    // Everything DEL would remove goes too: a reclaimed address must not bring the dead pod's hostPorts.
                    if !dryRun { try Maintenance.removeFromNode(owner) }
                    print("\(dryRun ? "would release" : "released") \(name): \(owner)")
                }
                print("\(name): \(reclaimed.count) stale reservation(s) \(dryRun ? "found" : "released")")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take over a host-local or flannel store (e.g. /var/lib/cni/networks/cb0) without reusing its addresses.")

        @Option(help: "The host-local directory of one network.") var from: String
        @Option(help: "The IPAM store root to import into.") var dataDir: String = NetworkPlan.defaultDataDir
        @Option(help: "The network to import into (default: the directory's name).") var network: String?

        func run() throws {
            let name = network ?? URL(fileURLWithPath: from).lastPathComponent
            try Validation.networkName(name)
            guard FileManager.default.fileExists(atPath: from) else {
                throw ValidationError("--from \(from) does not exist")
            }
            let count = try FileStore(dataDir: dataDir, network: name).importHostLocal(from: from)
            print("imported \(count) reservation(s) from \(from) into \(dataDir)/\(name)")
        }
    }
}

struct Nft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nft",
        abstract: "Weft's nftables table (inet weft) in this network namespace.",
        subcommands: [List.self, Uninstall.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List hostPorts per pod.")
        @Flag(help: "Print JSON.") var json = false

        struct Entry: Encodable {
            let owner: String
            let hostPort: String
            let destination: String
        }

        func run() throws {
            let entries = try HostPortTable().allElements().map {
                Entry(owner: $0.owner, hostPort: HostPortElements.describeKey($0), destination: HostPortElements.describeValue($0))
            }.sorted { ($0.owner, $0.hostPort) < ($1.owner, $1.hostPort) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(entries), as: UTF8.self))
                return
            }
            print(["OWNER", "HOSTPORT", "DESTINATION"].joined(separator: "\t"))
            for entry in entries { print([entry.owner, entry.hostPort, entry.destination].joined(separator: "\t")) }
        }
    }

    struct Uninstall: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the whole inet weft table (masquerade and every hostPort).")

        func run() throws {
            print(try HostPortTable().uninstall() ? "removed table inet weft" : "no table inet weft: nothing to remove")
        }
    }
}

/// `weftctl agent`: the node agent's lease and peers, as weftd last wrote them.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "weftd's lease and peers on this node.")
    @Option(help: "weftd's state file.") var stateFile = AgentStatus.defaultPath
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let status = try AgentStatus.read(from: stateFile)
        print(json ? String(decoding: try AgentStatus.encoder().encode(status), as: UTF8.self) : status.summary)
        if !status.health().healthy { throw ExitCode(3) }
    }
}
