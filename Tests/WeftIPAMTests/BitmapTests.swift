import Testing
import WeftIPAM

@Suite struct BitmapSearchTests {
    @Test func findsTheFirstClearBitFromTheStart() {
        #expect(Allocator.nextClearBit(in: [0b1011], count: 64, from: 0) == 2)
        #expect(Allocator.nextClearBit(in: [0b1011], count: 64, from: 3) == 4)
    }

    @Test func wrapsAroundToBitsBeforeTheStart() {
        let words: [UInt64] = [~UInt64(0) ^ 0b100, ~UInt64(0)]
        #expect(Allocator.nextClearBit(in: words, count: 128, from: 70) == 2)
    }

    @Test func ignoresBitsPastTheCount() {
        #expect(Allocator.nextClearBit(in: [0b1111], count: 4, from: 0) == nil)
        #expect(Allocator.nextClearBit(in: [~UInt64(0), 0b0111], count: 67, from: 10) == nil)
        #expect(Allocator.nextClearBit(in: [~UInt64(0), 0b0011], count: 67, from: 10) == 66)
    }

    @Test func findsTheOneFreeAddressOfANearlyFullSixteen() {
        var words = [UInt64](repeating: ~0, count: 1024)
        words[700] = ~(UInt64(1) << 9)
        #expect(Allocator.nextClearBit(in: words, count: 65534, from: 50_000) == 700 * 64 + 9)
        #expect(Allocator.nextClearBit(in: words, count: 65534, from: 44_810) == 44_809)
    }
}
