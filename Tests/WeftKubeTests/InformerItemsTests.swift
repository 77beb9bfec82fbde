import Foundation
import Testing

@testable import WeftKube

/// A list page's objects: every item an object, or the list fails (never fewer objects than the API sent).
@Suite struct InformerItemsTests {
    func page(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func objectsAreHandedOverWholeAndNullIsEmpty() throws {
        let items = try Informer.items(of: page(#"{"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}"#), path: "/api/v1/pods")
        #expect(items.count == 2 && (items[1]["metadata"] as? [String: Any])?["name"] as? String == "b")
        #expect(try Informer.items(of: page(#"{"items":[]}"#), path: "/api/v1/pods").isEmpty)
        #expect(try Informer.items(of: page(#"{"items":null}"#), path: "/api/v1/pods").isEmpty)
    }

    @Test(arguments: [
        (#"{"items":[{"metadata":{"name":"a"}},5]}"#, "list /api/v1/pods: items[1] is not an object"),
        (#"{"items":["a"]}"#, "list /api/v1/pods: items[0] is not an object"),
        (#"{"items":{"a":1}}"#, "list /api/v1/pods: items is not a list"),
        (#"{"kind":"Status","status":"Success"}"#, "list /api/v1/pods: a reply without items"),
    ])
    func anUnreadablePageFailsTheList(json: String, message: String) throws {
        #expect {
            try Informer.items(of: page(json), path: "/api/v1/pods")
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
