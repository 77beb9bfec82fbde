import Foundation
import Testing
import WeftAgent
import WeftTestSupport

/// weftd's durations in /metrics are histograms (swift-metrics Timers, PrometheusMetricsFactory): a
/// quantile such as the p99 of attaches can be computed from the buckets, a last value could not.
struct MetricsHistogramTests {
    @Test func attachDurationsAreServedAsAHistogram() async throws {
        let metrics = AgentMetrics()
        for milliseconds in [1.5, 3, 3, 40] { metrics.policyAttachSeconds.recordMilliseconds(milliseconds) }
        metrics.policyApplies.increment()
        let server = try await StatusServer.start(host: "127.0.0.1", port: 0, metrics: metrics) { (true, "ok") }
        let port = server.port ?? 0
        let text = try run(["/usr/bin/curl", "-s", "-m", "5", "http://127.0.0.1:\(port)/metrics"]).stdout
        await server.close()
        let lines = Set(text.split(separator: "\n").map(String.init))
        let name = "weftd_policy_attach_duration_seconds"
        #expect(lines.contains("# TYPE \(name) histogram"), "\(text)")
        // Cumulative buckets: none under 1 ms (the negative), then each duration in its own.
        #expect(lines.contains(#"\#(name)_bucket{le="0.001"} 0"#), "\(text)")
        #expect(lines.contains(#"\#(name)_bucket{le="0.002"} 1"#), "\(text)")
        #expect(lines.contains(#"\#(name)_bucket{le="0.005"} 3"#), "\(text)")
        #expect(lines.contains(#"\#(name)_bucket{le="0.05"} 4"#), "\(text)")
        #expect(lines.contains(#"\#(name)_bucket{le="+Inf"} 4"#), "\(text)")
        #expect(lines.contains("\(name)_count 4"), "\(text)")
        #expect(lines.contains("\(name)_sum 0.0475"), "\(text)")
        // Counters and gauges keep the names the README and the tests use.
        #expect(lines.contains("weftd_policy_applies_total 1"), "\(text)")
        #expect(lines.contains { $0.hasPrefix("weftd_lease_held ") }, "\(text)")
    }
}
