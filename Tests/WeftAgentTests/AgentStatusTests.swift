import Foundation
import Testing
import WeftAgent

/// /healthz and `weftd status` as the state file says them, judged at read time.
struct AgentStatusTests {
    static func status() -> AgentStatus {
        AgentStatus(
            pid: 1, engine: "etcd", backend: "host-gw", network: "10.244.0.0/16", subnet: "10.244.3.0/24", publicIP: "10.77.0.11",
            underlay: "eth0", device: nil, vtepMAC: nil, mtu: 1500, leaseTTLSeconds: 60, leaseID: "7", leaseExpiresAt: nil,
            peers: [], watching: true, renewalFailure: nil, lastReconcileAt: nil, reconcileErrors: 0, lastError: nil, updatedAt: Date())
    }

    /// A lease watch broken within its bound is healthy (a resumed watch comes back within seconds);
    /// past the bound it is not, with the reason; the same status read before the bound passed is the control.
    @Test func aLeaseWatchBrokenPastItsBoundIsUnhealthy() {
        let since = Date()
        var status = Self.status()
        status.watching = false
        status.watchBrokenSince = since
        status.watchBrokenBy = "subnet engine: connection refused"
        status.watchBrokenBoundSeconds = 60
        #expect(status.health(now: since.addingTimeInterval(59)) == (true, "ok"))
        let late = status.health(now: since.addingTimeInterval(61))
        #expect(!late.healthy && late.reason == "the lease watch has been broken for 61 s (bound 60 s): subnet engine: connection refused", "\(late.reason)")
        #expect(status.summary.contains("watch:    broken since"), "\(status.summary)")

        // Never listed yet: not healthy, whatever the bound.
        var fresh = Self.status()
        fresh.watching = false
        #expect(!fresh.health().healthy && fresh.health().reason.hasPrefix("not watching the subnet engine yet"))
    }

    /// A lost lease leads the summary on a line of its own; a held one does not show it.
    @Test func aLostLeaseLeadsTheSummary() {
        var status = Self.status()
        #expect(!status.summary.contains("LEASE LOST"))
        status.leaseLost = "subnet 10.244.3.0/24 of this node's subnet.env is leased by 10.77.0.99 now"
        #expect(status.summary.hasPrefix("LEASE LOST: subnet 10.244.3.0/24 of this node's subnet.env is leased by 10.77.0.99 now"), "\(status.summary)")
        #expect(status.health() == (false, "lease lost: \(status.leaseLost ?? "")"))
    }
}
