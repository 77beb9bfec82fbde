/// Ethernet addresses as text: lowercase, two hex digits a byte, colons between (the kernel's, flannel's
/// lease attributes' and the CNI result's form).
public enum MAC {
    public static func text(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// Six bytes from `aa:bb:cc:dd:ee:ff` (either case); nil for anything else.
    public static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        return bytes.count == 6 ? bytes : nil
    }
}
