import Foundation
import Testing
@testable import WeftEtcd

@Suite struct EtcdMessagesTests {
    func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    func encoded(_ body: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    func line(_ text: String) throws -> (events: [EtcdMessages.Event], revision: Int64, canceled: Bool) {
        try EtcdMessages.watchReply(Data(text.utf8))
    }

    @Test func prefixRangeEndIncrementsTheLastByte() {
        #expect(EtcdMessages.rangeEnd(ofPrefix: "/coreos.com/network/subnets/") == b64("/coreos.com/network/subnets0"))
        #expect(EtcdMessages.rangeEnd(ofPrefix: "a") == b64("b"))
    }

    @Test func acquisitionOnlyCreatesAMissingKey() throws {
        let body = EtcdMessages.createIfAbsent(key: "/p/subnets/10.244.3.0-24", value: "{}", lease: 7587)
        #expect(
            try encoded(body) == #"{"compare":[{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","result":"EQUAL","target":"VERSION","version":"0"}],"#
                + #""success":[{"request_put":{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","lease":"7587","value":"e30="}}]}"#)
    }

    @Test func requestsUseTheGatewaysFieldNames() throws {
        let replace = EtcdMessages.replaceIfUnchanged(key: "/k", value: "v", lease: 3, modRevision: 40)
        #expect(
            try encoded(replace) == #"{"compare":[{"key":"\#(b64("/k"))","mod_revision":"40","result":"EQUAL","target":"MOD"}],"#
                + #""success":[{"request_put":{"key":"\#(b64("/k"))","lease":"3","value":"\#(b64("v"))"}}]}"#)
        #expect(try encoded(EtcdMessages.range(key: "/k", prefix: false)) == #"{"key":"\#(b64("/k"))"}"#)
        #expect(try encoded(EtcdMessages.range(key: "/p/", prefix: true)) == #"{"key":"\#(b64("/p/"))","range_end":"\#(b64("/p0"))"}"#)
        #expect(
            try encoded(EtcdMessages.watch(prefix: "/p/", fromRevision: 9))
                == #"{"create_request":{"key":"\#(b64("/p/"))","progress_notify":true,"range_end":"\#(b64("/p0"))","start_revision":"9"}}"#)
    }

    /// A range reply as etcd 3.5's gateway writes it (int64s as strings; fields weftd does not read).
    @Test func rangeRepliesCarryInt64sAsStrings() throws {
        let reply = try JSONDecoder().decode(
            EtcdWire.RangeResponse.self,
            from: Data(
                #"""
                {"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"42","raft_term":"2"},
                 "kvs":[{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","create_revision":"40","mod_revision":"40","version":"1",
                         "value":"\#(b64("{}"))","lease":"7587"}],"count":"1"}
                """#.utf8))
        let parsed = EtcdMessages.rangeReply(reply)
        #expect(parsed.revision == 42)
        #expect(parsed.kvs == [EtcdMessages.KeyValue(key: "/p/subnets/10.244.3.0-24", value: "{}", modRevision: 40, lease: 7587)])
        let numbers = try JSONDecoder().decode(EtcdWire.RangeResponse.self, from: Data(#"{"header":{"revision":42}}"#.utf8))
        #expect(EtcdMessages.rangeReply(numbers).revision == 42, "int64s as numbers are read too")
    }

    @Test func watchRepliesLeaveOutThePutTypeAndNameDeletes() throws {
        let reply = try line(
            #"""
            {"result":{"header":{"cluster_id":"1","member_id":"2","revision":"9","raft_term":"2"},"events":[
              {"kv":{"key":"\#(b64("/p/subnets/10.244.2.0-24"))","create_revision":"9","mod_revision":"9","version":"1","value":"\#(b64("{}"))"}},
              {"type":"DELETE","kv":{"key":"\#(b64("/p/subnets/10.244.3.0-24"))","mod_revision":"9"}}]}}
            """#)
        #expect(reply.revision == 9)
        #expect(
            reply.events == [
                .put(.init(key: "/p/subnets/10.244.2.0-24", value: "{}", modRevision: 9, lease: 0)),
                .delete(key: "/p/subnets/10.244.3.0-24"),
            ])
        #expect(throws: EtcdError.self) { try line(#"{"error":{"grpc_code":11,"http_code":400,"message":"mvcc: required revision has been compacted"}}"#) }
    }

    /// etcd cancels a watch whose start revision was compacted with compact_revision and often no
    /// reason; the gateway keeps the connection open, so a reply that is not an error would leave the
    /// agent waiting on a dead watch forever.
    @Test func aCanceledWatchEndsTheStreamWithOrWithoutAReason() {
        #expect(throws: EtcdError.self) { try line(#"{"result":{"header":{"revision":"9"},"canceled":true}}"#) }
        #expect(throws: EtcdError.self) { try line(#"{"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"5"}}"#) }
        #expect(throws: EtcdError.self) { try line(#"{"result":{"compact_revision":"5"}}"#) }
        #expect((try? line(#"{"result":{"header":{"revision":"9"},"created":true}}"#)) != nil)
    }

    /// A reply field of the wrong type, or an int64 that is not one, is refused with an error naming the
    /// field. The control: the same reply well typed is read.
    @Test(arguments: [
        (#"{"result":{"header":{"revision":"nine"}}}"#, #"result.header.revision has an invalid value "nine""#),
        (#"{"result":{"header":{"revision":"99999999999999999999"}}}"#, #"result.header.revision has an invalid value "99999999999999999999""#),
        (#"{"result":{"header":{"revision":true}}}"#, "result.header.revision must be an integer, found true"),
        (#"{"result":{"events":{"kv":{}}}}"#, "result.events must be an array"),
        (#"{"result":{"canceled":"yes"}}"#, #"result.canceled must be a boolean, found "yes""#),
        (#"[1]"#, "the document must be an object"),
    ])
    func malformedWatchRepliesAreRefusedByName(json: String, message: String) throws {
        do {
            _ = try line(json)
            Issue.record("accepted \(json)")
        } catch let error as EtcdError {
            #expect(error.kind == .engine)
            #expect(error.message.contains(message), "\(error.message)")
        }
        #expect(try line(#"{"result":{"header":{"revision":"9"},"events":[],"canceled":false}}"#).revision == 9)
    }
}
