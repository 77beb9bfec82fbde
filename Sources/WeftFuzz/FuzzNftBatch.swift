import WeftAddress
import WeftNetlink
// The encoder is internal: the harness reaches it where the module is compiled for testing (debug, and
// `make fuzz`'s -enable-testing); the plain release build of this target leaves it out.
#if DEBUG || WEFT_FUZZ
@testable import WeftNftables
@testable import WeftPlugin
#endif

/// The hostPort transaction (HostPortTable.add) libnftnl writes into NftBatch's buffer (with memcpy, which AddressSanitizer
/// intercepts in the uninstrumented library too), for an input whose first byte has its top bit set (a
/// config, JSON, never has). The input sizes it: the second byte gives up to 63 mappings, or up to
/// 4,080 when the first byte is 0xff (a batch up to about 400 KiB, past the 64 KiB an element list holds
/// and past the buffer's first size: fuzz/corpus/nft-batch-4080-dual is one); the third byte the
/// families and the owner tag's length. `make fuzz` builds this with AddressSanitizer, so a message
/// written past the buffer (the defect NftBatch's per-message sizing fixed) crashes the run in CI, as
/// does NftBatch's own check of each message against its bound. The layout is then read back: every
/// element in some message. Small inputs most of the time: the fuzzer's speed is the parsers' too.
func fuzzNftBatch(_ bytes: [UInt8]) {
    #if DEBUG || WEFT_FUZZ
    guard bytes.count >= 3, bytes[0] & 0x80 != 0, let v4 = IPAddress("10.244.1.2"), let v6 = IPAddress("fd00::2") else { return }
    let count = bytes[0] == 0xff ? Int(bytes[1]) * 16 : Int(bytes[1] >> 2)
    let addresses = bytes[2] & 1 == 1 ? [v4, v6] : [v4]
    let owner = "weft/cbr0/" + String(repeating: "f", count: Int(bytes[2] >> 1)) + "/eth0"
    let mappings = (0..<count).map { (index: Int) -> PortMapping in
        let proto: TransportProtocol = index % 3 == 0 ? .udp : .tcp
        let containerPort = UInt16(1 + (index * 7) % 65_535)
        return PortMapping(proto: proto, hostPort: UInt16(1 + index), containerPort: containerPort, hostIP: nil)
    }
    let elements = HostPortElements.elements(for: mappings, podAddresses: addresses, owner: owner)
    let transaction = NftTransaction(firstSequence: 1)
    HostPortTable.add(elements, to: transaction, table: "weft")
    let written = NetlinkMessage.split(transaction.batch.finish().bytes)
        .filter { $0.type == 0x0a0c }  // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM
        .flatMap { SetElementParser.elements(payload: $0.payload) }
    if written.count != elements.count {
        fatalError("NftBatch: \(elements.count) elements encoded, \(written.count) in the batch")
    }
    #endif
}
