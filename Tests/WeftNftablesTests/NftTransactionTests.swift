import Testing
import WeftNetlink
@testable import WeftNftables

/// What NftTransaction hands out itself, read back from its bytes: no kernel needed.
@Suite struct NftTransactionTests {
    /// NFTA_SET_ID (10) of each NEWSET message, in order.
    static func setIDs(_ transaction: NftTransaction) -> [UInt32?] {
        NetlinkMessage.split(transaction.batch.finish().bytes).filter { $0.type == 0x0a09 }  // NFT_MSG_NEWSET
            .map { NetlinkAttribute.parse($0.payload, from: 4).first(10)?.u32.map { UInt32(bigEndian: $0) } }
    }

    @Test func everySetOfATransactionGetsItsOwnID() {
        let transaction = NftTransaction(firstSequence: 1)
        transaction.addTable("t")
        transaction.addSet(table: "t", NftSet(name: "a", keyLength: 4, keyType: NftDatatype.ipv4Address))
        transaction.addSet(table: "t", NftSet(name: "b", keyLength: 4, keyType: NftDatatype.ipv4Address, interval: true))
        transaction.addSet(table: "t", NftSet(name: "c", keyLength: 4, keyType: NftDatatype.ipv4Address, data: .verdict))
        #expect(Self.setIDs(transaction) == [1, 2, 3])
        let next = NftTransaction(firstSequence: 20)
        next.addSet(table: "t", NftSet(name: "d", keyLength: 4, keyType: NftDatatype.ipv4Address))
        #expect(Self.setIDs(next) == [1], "IDs are the transaction's own: each one counts from 1")
    }

    /// A delete carries the key (and an interval end's flag) but not the data and comment an add carries.
    @Test func aDeleteNamesTheKeyOnly() {
        let element = NftSetElement(key: [6, 0, 0, 0, 0x1f, 0x90, 0, 0], data: [10, 0, 0, 2, 0, 80, 0, 0], comment: "owner")
        let adding = NftTransaction(firstSequence: 1), deleting = NftTransaction(firstSequence: 1)
        adding.addElements(table: "t", set: "m", [element], exclusive: true)
        deleting.deleteElements(table: "t", set: "m", [element])
        func read(_ transaction: NftTransaction) -> [NftSetElement] {
            NetlinkMessage.split(transaction.batch.finish().bytes).filter { $0.type == 0x0a0c || $0.type == 0x0a0e }
                .flatMap { SetElementParser.elements(payload: $0.payload) }
        }
        #expect(read(adding) == [element])
        #expect(read(deleting) == [NftSetElement(key: element.key)])
    }
}
