import WeftIdentity

extension Array where Element == NftRule {
    /// The rules with each chain's fingerprint as their comment.
    public func fingerprinted() -> [NftRule] {
        var hashes: [String: FNV1a] = [:]
        for rule in self {
            var hash = hashes[rule.chain] ?? FNV1a()
            hash.add(UInt8(0xff))
            for expression in rule.expressions { expression.feed(&hash) }
            hashes[rule.chain] = hash
        }
        return map { NftRule(chain: $0.chain, expressions: $0.expressions, comment: "weft:" + String(hashes[$0.chain]?.value ?? 0, radix: 16)) }
    }
}

/// FNV-1a over the rules' own fields: String(describing:) of the same values costs milliseconds.
extension FNV1a {
    public mutating func add(word: UInt32) { withUnsafeBytes(of: word) { add($0) } }
    public mutating func add(bytes: [UInt8]) { add(word: UInt32(bytes.count)); add(bytes) }
    public mutating func add(text: String) { add(bytes: Array(text.utf8)) }
}

extension NftExpression {
    func feed(_ hash: inout FNV1a) {
        switch self {
        case let .meta(key, register): hash.add(UInt8(1)); hash.add(word: key.rawValue); hash.add(word: register.raw)
        case let .setMeta(key, register): hash.add(UInt8(2)); hash.add(word: key.rawValue); hash.add(word: register.raw)
        case let .payload(base, offset, length, register):
            hash.add(UInt8(3)); hash.add(word: base.rawValue); hash.add(word: offset); hash.add(word: length); hash.add(word: register.raw)
        case let .cmp(op, register, data): hash.add(UInt8(4)); hash.add(word: op.rawValue); hash.add(word: register.raw); hash.add(bytes: data)
        case let .bitwise(register, mask, xor): hash.add(UInt8(5)); hash.add(word: register.raw); hash.add(bytes: mask); hash.add(bytes: xor)
        case let .lookup(set, key, value): hash.add(UInt8(6)); hash.add(text: set); hash.add(word: key.raw); hash.add(word: value?.raw ?? 0)
        case let .fibDestinationType(register): hash.add(UInt8(7)); hash.add(word: register.raw)
        case let .dnat(family, address, port): hash.add(UInt8(8)); hash.add(UInt8(family == .v4 ? 4 : 6)); hash.add(word: address.raw); hash.add(word: port.raw)
        case .masquerade: hash.add(UInt8(9))
        case .counter: hash.add(UInt8(10))
        case let .ctState(register): hash.add(UInt8(11)); hash.add(word: register.raw)
        case let .ctStatus(register): hash.add(UInt8(14)); hash.add(word: register.raw)
        case let .verdict(verdict): hash.add(UInt8(12)); verdict.feed(&hash)
        case let .verdictMap(set, key): hash.add(UInt8(13)); hash.add(text: set); hash.add(word: key.raw)
        case let .bitwiseBool(register, mask, xor): hash.add(UInt8(22)); hash.add(word: register.raw); hash.add(bytes: mask); hash.add(bytes: xor)
        case let .immediate(register, data): hash.add(UInt8(15)); hash.add(word: register.raw); hash.add(bytes: data)
        case let .dnatToPort(family, address, port):
            hash.add(UInt8(16)); hash.add(UInt8(family == .v4 ? 4 : 6)); hash.add(word: address.raw); hash.add(word: port.raw)
        case .masqueradeFullyRandom: hash.add(UInt8(17))
        case let .numgenRandom(modulus, register): hash.add(UInt8(18)); hash.add(word: modulus); hash.add(word: register.raw)
        case let .reject(kind): hash.add(UInt8(19)); hash.add(UInt8(kind == .tcpReset ? 1 : 2))
        case let .dynsetUpdate(set, key): hash.add(UInt8(20)); hash.add(text: set); hash.add(word: key.raw)
        case let .anonymousVerdictMap(key, keyType, keyLength, elements):
            hash.add(UInt8(21)); hash.add(word: key.raw); hash.add(word: keyType); hash.add(word: keyLength); hash.add(word: UInt32(elements.count))
            for element in elements {
                hash.add(bytes: element.key)
                (element.verdict ?? .drop).feed(&hash)
            }
        }
    }
}

extension NftVerdict {
    func feed(_ hash: inout FNV1a) {
        switch self {
        case .accept: hash.add(UInt8(1))
        case .drop: hash.add(UInt8(0))
        case let .jump(chain): hash.add(UInt8(2)); hash.add(text: chain)
        case let .goto(chain): hash.add(UInt8(3)); hash.add(text: chain)
        case .return: hash.add(UInt8(4))
        }
    }
}
