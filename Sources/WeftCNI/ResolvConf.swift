import FoundationEssentials

/// resolv.conf as host-local's `resolvConf` key reads it: nameserver, domain, search and options lines.
public enum ResolvConf {
    public static func load(path: String) throws -> CNIResult.DNS {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CNIError(.ioFailure, "ipam.resolvConf \"\(path)\" cannot be read", details: "\(error)")
        }
        return parse(String(decoding: data, as: UTF8.self))
    }

    public static func parse(_ text: String) -> CNIResult.DNS {
        var dns = CNIResult.DNS()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = fields.first, !keyword.hasPrefix("#"), !keyword.hasPrefix(";") else { continue }
            let values = Array(fields.dropFirst())
            switch keyword {
            case "nameserver": dns.nameservers = (dns.nameservers ?? []) + values.prefix(1)
            case "domain": dns.domain = values.first
            case "search": dns.search = values
            case "options": dns.options = (dns.options ?? []) + values
            default: continue
            }
        }
        return dns
    }
}
