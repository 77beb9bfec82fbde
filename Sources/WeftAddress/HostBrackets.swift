extension String {
    /// "[::1]" → "::1": an IPv6 host is bracketed in host:port and in a URL's host (weftd's
    /// --metrics-address, the etcd endpoints).
    public var trimmingBrackets: String { hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self }
}
