import FoundationEssentials
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

extension FileStore {
    /// On disk, records from an earlier boot name namespaces and pods that no longer exist: drop them
    /// all (the directories are moved aside first, so a crash midway leaves nothing half-dropped).
    func dropEarlierBoot() throws {
        let stampPath = "\(directory)/boot-id"
        let stamp = try PosixFiles.read(stampPath)?.split(separator: "\n").first.map(String.init)
        guard stamp != bootID else { return }
        // No stamp: a new store, or one made before stamping; nothing proves its records old, so keep them.
        if stamp != nil {
            for name in ["owners", "ips"] {
                let aside = "\(directory)/.earlier-boot-\(name)"
                try? FileManager.default.removeItem(atPath: aside)
                if rename("\(directory)/\(name)", aside) != 0 {
                    throw IPAMError.io(SystemError("rename", "\(directory)/\(name)", errno: errno))
                }
                try PosixFiles.makeDirectory("\(directory)/\(name)")
                try? FileManager.default.removeItem(atPath: aside)
            }
            for name in try PosixFiles.list(directory) where name.hasPrefix("bitmap-") || name.hasPrefix("last-") {
                try PosixFiles.remove("\(directory)/\(name)")
            }
        }
        // On disk before any record written after it: a power loss must find it (DurableFile).
        try PosixFiles.publishReplacing(bootID + "\n", at: stampPath, durability: .powerLoss)
    }
}
