import ArgumentParser
import FoundationEssentials
import WeftNetlink
import WeftServices

/// `weftctl services ls [NAMESPACE/NAME]`: each Service port's frontends and endpoints as the kernel
/// holds them in table inet weft-services (what weftd --services wrote), read in this namespace.
struct ServicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "Services as this node's kernel serves them (weftd --services).", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Frontends and endpoints per Service port.")

        @Argument(help: "Only this Service (NAMESPACE/NAME), all its ports.") var service: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let listings = try ServiceTable(handle: .current()).listing().filter { listing in
                guard let service else { return true }
                return listing.service == service || listing.service.hasPrefix(service + ":")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(listings), as: UTF8.self))
                return
            }
            print(["SERVICE", "PROTOCOL", "FRONTENDS", "ENDPOINTS"].joined(separator: "\t"))
            for listing in listings {
                let endpoints = listing.endpoints.isEmpty ? "(none: rejected)" : listing.endpoints.joined(separator: ",")
                print([listing.service, listing.transport, listing.frontends.joined(separator: ","), endpoints].joined(separator: "\t"))
            }
        }
    }
}
