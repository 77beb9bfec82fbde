import FoundationEssentials

/// JSON allows an object to repeat a key and decoders silently keep the last one, so `{"ipMasq":false,
/// …,"ipMasq":true}` would mean something other than what a reader of the file sees. Weft refuses it.
enum DuplicateKeys {
    private enum Container {
        case object(keys: Set<String>, expectingKey: Bool)
        case array
    }

    /// Throws a decode error naming the first repeated key whose path (`["ipam", "dataDir"]`) is
    /// `relevant`. `data` is already known to be valid JSON.
    static func check(_ data: Data, relevant: ([String]) -> Bool = { _ in true }) throws {
        let bytes = [UInt8](data)
        var stack: [Container] = []
        var path: [String] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append(.object(keys: [], expectingKey: true))
                path.append("")
            case UInt8(ascii: "["):
                stack.append(.array)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if case .object = stack.last { _ = path.popLast() }
                _ = stack.popLast()
            case UInt8(ascii: ","):
                if case .object(let keys, _) = stack.last {
                    stack[stack.count - 1] = .object(keys: keys, expectingKey: true)
                }
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                if case .object(var keys, true) = stack.last {
                    // Decode the literal so escaped spellings of one key ("n\u0061me") count as the same key.
                    let literal = Data(bytes[start...min(index, bytes.count - 1)])
                    let key = (try? JSONDecoder().decode(String.self, from: literal)) ?? ""
                    // `path` holds each enclosing object's current key; the last entry is this object's own.
                    let enclosing = path.dropLast().filter { !$0.isEmpty }
                    guard keys.insert(key).inserted || !relevant(enclosing + [key]) else {
                        let location = enclosing.isEmpty ? "" : " in \(enclosing.joined(separator: "."))"
                        throw CNIError(
                            .decodeFailure, "key \"\(Validation.printable(key))\" appears twice\(location)",
                            details: "JSON decoders keep only one of them; remove the other")
                    }
                    stack[stack.count - 1] = .object(keys: keys, expectingKey: false)
                    path[path.count - 1] = key
                }
            default:
                break
            }
            index += 1
        }
    }
}
