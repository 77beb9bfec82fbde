import Foundation
import Testing
import WeftAgent
import WeftTestSupport

/// Every metric weftd serves at /metrics says what it counts: a `# HELP` line, with text, for each
/// `# TYPE` line (Prometheus' exposition conventions, as kube-proxy's metrics do).
struct MetricsHelpTests {
    @Test func everyServedMetricHasHelpText() async throws {
        let metrics = AgentMetrics()
        metrics.policyApplies.increment()
        let server = try await StatusServer.start(host: "127.0.0.1", port: 0, metrics: metrics) { (true, "ok") }
        let port = server.port ?? 0
        let text = try run(["/usr/bin/curl", "-s", "-m", "5", "http://127.0.0.1:\(port)/metrics"]).stdout
        await server.close()
        let lines = text.split(separator: "\n").map(String.init)
        func names(_ prefix: String) -> [String] {
            lines.filter { $0.hasPrefix(prefix) }.compactMap { $0.dropFirst(prefix.count).split(separator: " ").first.map(String.init) }
        }
        let typed = names("# TYPE ")
        // The scrape holds every kind: a counter, a gauge and a histogram.
        #expect(Set(["weftd_policy_applies_total", "weftd_lease_held", "weftd_policy_attach_duration_seconds"]).isSubset(of: typed), "\(text)")
        #expect(lines.contains("weftd_policy_applies_total 1"), "\(text)")
        let helped = Dictionary(
            lines.filter { $0.hasPrefix("# HELP ") }.map { line -> (String, String) in
                let rest = line.dropFirst("# HELP ".count)
                return (String(rest.prefix { $0 != " " }), String(rest.drop { $0 != " " }.dropFirst()))
            }, uniquingKeysWith: { first, _ in first })
        for name in typed {
            #expect(!(helped[name] ?? "").isEmpty, "no help text for \(name)")
        }
        #expect(Set(helped.keys) == Set(typed), "\(text)")
    }
}
