import Testing
import WeftAddress
import WeftNetlink
@testable import WeftNftables

/// How NftBatch lays out a transaction, read back from its bytes: no kernel needed.
///
/// The batch writes through libnftnl into memory it owns, so these tests are also the ones to run
/// under AddressSanitizer (a separate build directory keeps the ordinary build's objects; LeakSanitizer
/// is off because XCTest's empty run and Foundation's Process leak a few bytes of their own):
///     ASAN_OPTIONS=detect_leaks=0 swift test -Xswiftc -sanitize=address --build-path .build-asan --filter NftBatchLayoutTests
/// Before the batch was sized per message, the first test was a heap-buffer-overflow in libnftnl there.
@Suite struct NftBatchLayoutTests {
    /// The messages of a finished batch: begin, the objects, end.
    static func messages(_ bytes: [UInt8]) -> [NetlinkMessage] { NetlinkMessage.split(bytes) }

    static let newSetElement: UInt16 = 0x0a0c  // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM

    /// 1,000 hostPorts to a dual-stack pod: about 100 KiB of elements, past the 64 KiB a batch used to hold
    /// and past the 64 KiB one element list may hold (the IPv6 map alone).
    @Test func aHostPortTransactionPastSixtyFourKiBHoldsEveryElement() {
        // The hostPort maps' elements for 1,000 ports: proto . port to address . port, with the owner's tag.
        func elements(to address: [UInt8]) -> [NftSetElement] {
            (0..<1000).map { index in
                let port = UInt16(10000 + index)
                return NftSetElement(
                    key: [6, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0], data: address + [0, 80, 0, 0],
                    comment: "weft/cbr0/0123456789abcdef0123456789abcdef/eth0")
            }
        }
        let v4 = elements(to: IPAddress("10.244.1.2")!.bytes), v6 = elements(to: IPAddress("fd00::2")!.bytes)
        let transaction = NftTransaction(firstSequence: 1)
        transaction.addElements(table: "weft", set: "hostports4", v4, exclusive: true)
        transaction.addElements(table: "weft", set: "hostports6", v6, exclusive: true)
        let bytes = transaction.batch.finish().bytes
        let messages = Self.messages(bytes)
        #expect(bytes.count > 100_000)
        #expect(messages.first?.type == 0x10 && messages.last?.type == 0x11, "one batch begin, one batch end")
        #expect(messages.filter { $0.type == 0x10 || $0.type == 0x11 }.count == 2)
        let setElements = messages.filter { $0.type == Self.newSetElement }
        #expect(setElements.allSatisfy { $0.payload.count < 65_535 + 1024 })
        let read = setElements.flatMap { SetElementParser.elements(payload: $0.payload) }
        #expect(read.count == 2000, "every element in some message")
        #expect(Set(read) == Set(v4 + v6), "keys, values and comments")
    }

    /// One element larger than an element list can hold: refused before anything is written, and the
    /// transaction with it.
    @Test func anOversizeElementIsRefusedBeforeItIsWritten() {
        let transaction = NftTransaction(firstSequence: 1)
        transaction.addElements(table: "t", set: "s", [NftSetElement(key: [UInt8](repeating: 1, count: 70_000))])
        let batch = transaction.batch, refusal = batch.refusal
        #expect(refusal?.limit == NftBatch.maximumAttribute, "\(String(describing: refusal))")
        #expect(refusal?.description.contains("add 1 elements to s") == true, "\(String(describing: refusal))")
        #expect(batch.isEmpty)
        #expect(Self.messages(batch.finish().bytes).map(\.type) == [0x10, 0x11], "nothing but begin and end")
    }

    /// Only the last object message asks for an ack; the kernel answers failing ones all the same.
    @Test func onlyTheLastMessageAsksForAnAck() {
        let transaction = NftTransaction(firstSequence: 7)
        transaction.addTable("t")
        transaction.addElements(table: "t", set: "s", (0..<20_000).map { NftSetElement(key: [10, 0, UInt8($0 >> 8), UInt8($0 & 0xff)]) })
        let batch = transaction.batch
        let messages = Self.messages(batch.finish().bytes)
        let objects = messages.dropFirst().dropLast()
        #expect(objects.count > 2, "the elements split across messages")
        #expect(objects.filter { $0.flags & 4 != 0 }.map(\.sequence) == [batch.ackedSequence], "NLM_F_ACK on the last one only")
        #expect(messages.map(\.sequence) == Array(7..<(7 + UInt32(messages.count))))
    }
}
