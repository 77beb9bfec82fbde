import Foundation
import Testing
import WeftAddress
import WeftNetlink
@testable import WeftNftables
@testable import WeftServices
import WeftSystem
import WeftTestSupport

/// A weftd restart in a throwaway namespace: the new process's first write keeps the ClientIP affinity
/// the kernel learned (kube-proxy never flushes its affinity sets) and removes what is no longer planned;
/// later changes are partial diffs.
@Suite(.privileged)
struct ServiceRestartTests {
    @Test func theFirstWriteAfterARestartKeepsAffinityAndRemovesWhatIsGone() throws {
        let id = String(UUID().uuidString.prefix(8)).lowercased(), namespace = "wt-\(id)-srestart"
        try sh("ip netns add \(namespace)")
        defer { _ = try? sh("ip netns delete \(namespace)", check: false) }
        let handle = NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(namespace)"))
        let node = ServiceNode(nodePortAddresses: [], clusterCIDRs: [IPNetwork("10.244.0.0/16")!])
        var sticky = ServiceDatapathTests.plan("sticky", "10.96.0.10", endpoints: [("10.244.1.2", false), ("10.244.2.2", false)])
        sticky.affinitySeconds = 600
        let gone = ServiceDatapathTests.plan("gone", "10.96.0.11", endpoints: [("10.244.3.2", false)])

        // The first weftd: both Services; a client's affinity recorded as its packet would (`update @set`).
        let first = ServiceImageState(node: node)
        let change = first.update(["prod/sticky": [sticky], "prod/gone": [gone]])
        try ServiceTable(handle: handle).write(before: change.before, after: change.after, whole: first.image)
        let names = ServicePortNames(sticky), affinity = names.affinity(sticky.endpoints[0])
        let client = NftClient(handle: handle), client4 = IPAddress("10.244.9.9")!.bytes
        _ = try client.add([affinity: [NftSetElement(key: client4)]], to: first.image())
        #expect(try client.keys(table: ServiceRuleset.table, set: affinity) == [client4])
        let goneChain = ServicePortNames(gone).service
        #expect(try client.chains(table: .inet(ServiceRuleset.table)).contains(goneChain))

        // A restart: a new table object, the plans without `gone`.
        let restarted = ServiceImageState(node: node)
        let again = restarted.update(["prod/sticky": [sticky]])
        let table = ServiceTable(handle: handle)
        try table.write(before: again.before, after: again.after, whole: restarted.image)
        #expect(table.takeFallback() == nil, "adopted, not replaced")
        #expect(try client.keys(table: ServiceRuleset.table, set: affinity) == [client4], "the client's affinity outlives the restart")
        let chains = try client.chains(table: .inet(ServiceRuleset.table))
        #expect(!chains.contains(goneChain), "what is no longer planned is gone")
        #expect(chains.contains(names.service) && chains.contains(names.endpoint(sticky.endpoints[1])))
        #expect(try client.sets(table: .inet(ServiceRuleset.table)).filter { $0.hasPrefix("affinity-") }.count == 2)
        let frontends = try client.keys(table: ServiceRuleset.table, set: "service-ips")
        #expect(frontends == [ServiceLayout.Family.key(IPAddress("10.96.0.10")!, .tcp, 80)])

        // A later change is a partial diff of that Service: its new endpoint's chain, its affinity kept.
        var grown = sticky
        grown.endpoints.append(EndpointPlan(address: IPAddress("10.244.4.2")!, port: 8080))
        let third = restarted.update(["prod/sticky": [grown]])
        let messages = try table.write(before: third.before, after: third.after) {
            Issue.record("a partial diff, not the whole table")
            return restarted.image()
        }
        #expect(messages > 0 && messages < 20)
        #expect(try client.keys(table: ServiceRuleset.table, set: affinity) == [client4])
        #expect(try client.chains(table: .inet(ServiceRuleset.table)).contains(names.endpoint(grown.endpoints[2])))
    }

    /// A partial diff the kernel refuses (the table deleted behind weftd's back) is followed by the whole
    /// table, and the write says so (weftd logs and counts it); a write that went as meant says nothing.
    @Test func aRefusedPartialDiffIsWrittenWholeAndSaysSo() throws {
        let id = String(UUID().uuidString.prefix(8)).lowercased(), namespace = "wt-\(id)-sfallback"
        try sh("ip netns add \(namespace)")
        defer { _ = try? sh("ip netns delete \(namespace)", check: false) }
        let handle = NetlinkHandle(in: try NetworkNamespace(path: "/var/run/netns/\(namespace)"))
        let node = ServiceNode(nodePortAddresses: [], clusterCIDRs: [IPNetwork("10.244.0.0/16")!])
        let web = ServiceDatapathTests.plan("web", "10.96.0.20", endpoints: [("10.244.1.2", false)])
        let state = ServiceImageState(node: node)
        let table = ServiceTable(handle: handle)
        let first = state.update(["prod/web": [web]])
        try table.write(before: first.before, after: first.after, whole: state.image)
        var grown = web
        grown.endpoints.append(EndpointPlan(address: IPAddress("10.244.2.2")!, port: 8080))
        let second = state.update(["prod/web": [grown]])
        try table.write(before: second.before, after: second.after, whole: state.image)
        #expect(table.takeFallback() == nil, "a partial diff the kernel took")

        try sh("ip netns exec \(namespace) nft delete table inet \(ServiceRuleset.table)")
        var third = grown
        third.endpoints.append(EndpointPlan(address: IPAddress("10.244.3.2")!, port: 8080))
        let change = state.update(["prod/web": [third]])
        try table.write(before: change.before, after: change.after, whole: state.image)
        let why = table.takeFallback()
        #expect(why?.contains("partial diff") == true, "\(String(describing: why))")
        let chains = try NftClient(handle: handle).chains(table: .inet(ServiceRuleset.table))
        #expect(chains.contains(ServicePortNames(third).endpoint(third.endpoints[2])), "the whole table is back: \(chains)")
        #expect(table.takeFallback() == nil, "said once")
    }
}
