import WeftAddress
import WeftCNI
import WeftIPAM

/// STATUS for both executables: the network resolves, its store takes writes, every range has a free address.
enum Readiness {
    /// `makeStore`: the node's IPAM store of one network (Node.store), so a test's store answers too.
    static func check(
        store makeStore: (String, String) -> AddressStore,
        _ resolve: () throws -> (network: String, dataDir: String, ranges: [AddressRange])
    ) throws {
        let (network, dataDir, ranges): (String, String, [AddressRange])
        do {
            (network, dataDir, ranges) = try resolve()
        } catch let error as CNIError {
            throw CNIError(.unavailable, "not ready: \(error.msg)", details: error.details)
        }
        let store = makeStore(dataDir, network)
        do {
            try store.checkWritable()
        } catch {
            throw CNIError(.unavailable, "not ready: the IPAM store cannot be written", details: "\(error)")
        }
        for range in ranges where try store.freeCount(in: range) == 0 {
            throw CNIError(.unavailable, "not ready: no IP addresses available in range set: \(range)")
        }
    }
}
