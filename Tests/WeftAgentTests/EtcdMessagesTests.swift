import Foundation
import Testing
@testable import WeftAgent

@Suite struct EtcdMessagesTests {
    func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test func prefixRangeEndIncrementsTheLastByte() {
        #expect(EtcdMessages.rangeEnd(ofPrefix: "/coreos.com/network/subnets/") == b64("/coreos.com/network/subnets0"))
        #expect(EtcdMessages.rangeEnd(ofPrefix: "a") == b64("b"))
    }

    @Test func acquisitionOnlyCreatesAMissingKey() throws {
        let body = EtcdMessages.createIfAbsent(key: "/p/subnets/10.244.3.0-24", value: "{}", lease: 7587)
        let json = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        #expect(String(decoding: json, as: UTF8.self) ==
            #"{"compare":[{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","result":"EQUAL","target":"VERSION","version":"0"}],"#
            + #""success":[{"request_put":{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","lease":"7587","value":"e30="}}]}"#)
    }

    @Test func rangeRepliesCarryInt64sAsStrings() {
        let reply: [String: Any] = [
            "header": ["revision": "42"],
            "kvs": [["key": b64("/p/subnets/10.244.3.0-24"), "value": b64("{}"), "mod_revision": "40", "lease": "7587"]],
        ]
        let parsed = EtcdMessages.rangeReply(reply)
        #expect(parsed.revision == 42)
        #expect(parsed.kvs == [EtcdMessages.KeyValue(key: "/p/subnets/10.244.3.0-24", value: "{}", modRevision: 40, lease: 7587)])
    }

    @Test func watchRepliesLeaveOutThePutTypeAndNameDeletes() throws {
        let line: [String: Any] = ["result": [
            "header": ["revision": "9"],
            "events": [
                ["kv": ["key": b64("/p/subnets/10.244.2.0-24"), "value": b64("{}"), "mod_revision": "9"]],
                ["type": "DELETE", "kv": ["key": b64("/p/subnets/10.244.3.0-24"), "mod_revision": "9"]],
            ],
        ]]
        let reply = try EtcdMessages.watchReply(line)
        #expect(reply.revision == 9)
        #expect(reply.events == [.put(.init(key: "/p/subnets/10.244.2.0-24", value: "{}", modRevision: 9, lease: 0)),
                                 .delete(key: "/p/subnets/10.244.3.0-24")])
        #expect(EtcdLeaseEngine.leaseEvent(reply.events[1]) == .removed(.init("10.244.3.0/24")!))
        #expect(throws: AgentError.self) { try EtcdMessages.watchReply(["error": ["message": "mvcc: required revision has been compacted"]]) }
    }

    /// etcd cancels a watch whose start revision was compacted with compact_revision and often no
    /// reason; the gateway keeps the connection open, so a reply that is not an error would leave the
    /// agent waiting on a dead watch forever.
    @Test func aCanceledWatchEndsTheStreamWithOrWithoutAReason() {
        #expect(throws: AgentError.self) { try EtcdMessages.watchReply(["result": ["header": ["revision": "9"], "canceled": true]]) }
        #expect(throws: AgentError.self) {
            try EtcdMessages.watchReply(["result": ["header": ["revision": "9"], "canceled": true, "compact_revision": "5"]])
        }
        #expect(throws: AgentError.self) { try EtcdMessages.watchReply(["result": ["compact_revision": "5"]]) }
        #expect((try? EtcdMessages.watchReply(["result": ["header": ["revision": "9"], "created": true]])) != nil)
    }
}
