import WeftAddress
import WeftSystem
#if canImport(Glibc)
import Glibc
#endif

/// One bit per address of a range, in a file beside the records: a cache of which `ips/` files exist,
/// so choosing a free address reads 8 KiB for a /16 instead of testing addresses one by one.
/// The records stay the truth: a bit set for a missing file (a crash between the two writes) is
/// found when the range looks full and the bitmap is rebuilt from the records; a clear bit for an
/// existing file is found when the candidate's file is checked, and set then.
final class AddressBitmap {
    /// Ranges wider than this (IPv6 /64s) are sparse: probing from the last address finds a free one at once.
    static let maxAddresses: UInt64 = 1 << 24

    let range: AddressRange
    let path: String
    private(set) var words: [UInt64]
    private let fd: Int32

    var count: UInt64 { range.count }

    /// Opens the range's bitmap, rebuilding it from `held` (called only when the file is missing or the wrong size).
    init?(range: AddressRange, directory: String, held: () throws -> [IPAddress]) throws {
        guard range.count <= AddressBitmap.maxAddresses else { return nil }
        self.range = range
        path = "\(directory)/bitmap-\(range.first)-\(range.last)"
        let size = Int((range.count + 63) / 64) * 8
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IPAMError.io(SystemError("open", path, errno: errno)) }
        words = [UInt64](repeating: 0, count: size / 8)
        let readBytes = words.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        if readBytes != size {
            try rebuild(from: try held())
        }
    }

    deinit { close(fd) }

    func offset(of address: IPAddress) -> UInt64? {
        guard range.contains(address) else { return nil }
        return address.distance(from: range.first)
    }

    func address(at offset: UInt64) -> IPAddress? { range.first.advanced(by: offset) }

    func set(_ address: IPAddress, _ value: Bool) throws {
        guard let offset = offset(of: address) else { return }
        let index = Int(offset / 64)
        if value { words[index] |= 1 << (offset % 64) } else { words[index] &= ~(1 << (offset % 64)) }
        var word = words[index].littleEndian
        guard pwrite(fd, &word, 8, off_t(index * 8)) == 8 else {
            throw IPAMError.io(SystemError("pwrite", path, errno: errno))
        }
    }

    /// Replaces the bitmap with one built from the addresses held; the gateway's bit is set so it is never offered.
    func rebuild(from held: [IPAddress]) throws {
        words = [UInt64](repeating: 0, count: words.count)
        for address in held + [range.gateway] {
            if let offset = offset(of: address) { words[Int(offset / 64)] |= 1 << (offset % 64) }
        }
        let size = words.count * 8
        let written = words.map(\.littleEndian).withUnsafeBytes { pwrite(fd, $0.baseAddress, size, 0) }
        guard written == size, ftruncate(fd, off_t(size)) == 0 else {
            throw IPAMError.io(SystemError("write", path, errno: errno))
        }
    }
}
