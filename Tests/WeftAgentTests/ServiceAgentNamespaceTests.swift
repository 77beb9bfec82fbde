import Foundation
import Testing
import WeftTestSupport

/// weftd --services end to end in a throwaway network namespace (ServicesNamespaceLab), with the real
/// ServiceTable (and its kube-proxy check) on the namespace's kernel.
@Suite(.serialized, .privileged)
struct ServiceAgentNamespaceTests {
    @Test func weftdServesServicesFromTheAPIInANamespace() throws {
        let lab = try ServicesNamespaceLab(label: "svc", serving: "v1beta1")
        defer { lab.cleanup() }
        let server = lab.api
        try server.put("/api/v1/services", ServiceAgentTests.dnsService)
        try server.put("/apis/discovery.k8s.io/v1beta1/endpointslices", ServiceAgentTests.slice("v1beta1", ["10.244.1.3", "10.244.2.7"]))
        let started = try lab.startWeftd()
        func metric(_ name: String) -> Double? {
            let text = (try? lab.run(["/usr/bin/curl", "-sf", "http://127.0.0.1:9412/metrics"]).stdout) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let synced = waitUntil(timeout: 30) { (metric("weftd_services_syncs_total") ?? 0) >= 1 && metric("weftd_service_endpoints") == 2 }
        #expect(synced != nil, "not synced: \(started.log.suffix(3000))")
        #expect(metric("weftd_services") == 1)
        // In the kernel, not only counted: the Service's ClusterIP in the dispatch map weftd wrote.
        let dispatch = try lab.run(["/usr/sbin/nft", "list", "map", "inet", "weft-services", "service-ips"])
        #expect(dispatch.stdout.contains("10.96.0.10 . udp . 53"), "\(dispatch.stdout) \(dispatch.stderr)")
        let healthz = try lab.run(["/usr/bin/curl", "-s", "http://127.0.0.1:9412/healthz"])
        #expect(healthz.stdout.contains("ok"), "\(healthz.stdout)")
        #expect(started.exitCode() == nil, "weftd ended: \(started.log.suffix(3000))")
        // A change reaches the kernel's writer too: one endpoint goes.
        try server.put("/apis/discovery.k8s.io/v1beta1/endpointslices", ServiceAgentTests.slice("v1beta1", ["10.244.1.3"]))
        #expect(waitUntil(timeout: 30) { metric("weftd_service_endpoints") == 1 } != nil, "\(started.log.suffix(3000))")
        #expect((metric("weftd_services_sync_errors_total") ?? 0) == 0)
    }
}
