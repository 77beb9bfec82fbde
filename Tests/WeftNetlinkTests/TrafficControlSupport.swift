import Foundation
import WeftTestSupport
import WeftNetlink
import WeftSystem

extension ScratchNamespaces {
    /// The index of `link` in namespace `name`, through Weft's own netlink code.
    func linkIndex(_ link: String, in name: String) throws -> Int32 {
        let netlink = try RouteNetlink(handle: NetlinkHandle(in: NetworkNamespace(path: path(name))))
        guard let found = try netlink.link(named: link) else { throw TestFailure("no link \(link) in \(name)") }
        return found.index
    }
}
