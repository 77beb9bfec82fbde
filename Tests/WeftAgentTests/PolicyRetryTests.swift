import Foundation
import Testing
import WeftTestSupport

/// weftd --network-policy writes its table again on the retry timer (RetryTimer) after the kernel
/// refused it, with no API event to prompt it.
@Suite(.serialized, .privileged)
struct PolicyRetryTests {
    /// Another process owns `inet weft-policy` (NFT_TABLE_F_OWNER, kernel 5.12 on): the kernel refuses
    /// every write of anyone else with EPERM until the owner's netlink socket closes. weftd's first
    /// write fails; once the owner exits, with nothing changed in the API and no watch restarted, the
    /// table is written and /healthz turns ok. The refusal and the write are read from the same metrics.
    @Test func aRefusedTableWriteIsRetriedWithoutAnAPIEvent() throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        try lab.apply(PolicyAgentTests.objects)
        try lab.apply(PolicyAgentTests.policy(allowing: "client"))
        let fifo = "\(lab.directory)/nft-owner"
        guard mkfifo(fifo, 0o600) == 0 else { throw TestFailure("mkfifo \(fifo)") }
        try lab.start("nft-owner", ["/bin/sh", "-c", "exec /usr/sbin/nft -i < \(fifo)"])
        // Opening blocks until nft opens its end; closed by the lab's cleanup at the latest (nft killed).
        guard let owner = FileHandle(forWritingAtPath: fifo) else { throw TestFailure("open \(fifo)") }
        owner.write(Data("add table inet weft-policy { flags owner ; }\n".utf8))
        let owned = waitUntil(timeout: 10) { (try? lab.inNode(["/usr/sbin/nft", "list", "tables"]).stdout.contains("weft-policy")) == true }
        #expect(owned != nil, "the owned table was not made: \(lab.log("nft-owner"))")

        _ = try? lab.startWeftd(timeout: 1)  // not healthy while its table cannot be written
        let refused = waitUntil(timeout: 30) { ((try? lab.metric("weftd_policy_apply_errors_total")) ?? 0) > 0 }
        #expect(refused != nil, "no write refused:\n\(lab.log("weftd").suffix(3000))")
        #expect(try lab.metric("weftd_policy_applies_total") == 0)
        let healthy = { (try? lab.inNode(["/usr/bin/curl", "-sf", "http://127.0.0.1:9411/healthz"]).status) == 0 }
        #expect(!healthy())

        owner.closeFile()
        lab.stop("nft-owner", SIGKILL)
        let written = waitUntil(timeout: 60) { ((try? lab.metric("weftd_policy_applies_total")) ?? 0) >= 1 }
        #expect(written != nil, "not written again:\n\(lab.log("weftd").suffix(3000))")
        #expect(try lab.metric("weftd_policy_apply_retries_total") > 0)
        #expect(try lab.metric("weftd_policy_watch_restarts_total") == 0, "a relist, not the timer, may have written it")
        let map = try lab.inNode(["/usr/sbin/nft", "list", "map", "inet", "weft-policy", "ingress4"])
        #expect(map.status == 0, "\(map.stderr)")
        #expect(waitUntil(timeout: 10, healthy) != nil, "weftd not healthy after the write")
    }
}
