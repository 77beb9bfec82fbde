import Foundation
import Testing
import WeftTestSupport

/// weftd --services end to end in a throwaway network namespace: the fake API server and weftd both in
/// it, weftd with the real ServiceTable (and its kube-proxy check) on the namespace's kernel. As the
/// Services bench starts it: a kubeconfig, no --cluster-cidr and no net-conf (served without the pod
/// networks, said in the log).
@Suite(.serialized, .privileged)
struct ServiceAgentNamespaceTests {
    @Test func weftdServesServicesFromTheAPIInANamespace() throws {
        let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
        let namespace = "wt-\(id)-svc"
        let directory = "/tmp/weft-test-services-\(id)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let created = try ip("netns", "add", namespace)
        guard created.status == 0 else { throw TestFailure("ip netns add \(namespace): \(created.stderr)") }
        var api: FakeServicesAPI?
        var weftd: Daemon?
        defer {
            weftd?.stop(SIGKILL)
            api?.cleanup()
            _ = try? ip("netns", "delete", namespace)
            try? FileManager.default.removeItem(atPath: directory)
        }
        try ip("-n", namespace, "link", "set", "lo", "up")
        let server = try FakeServicesAPI(serving: "v1beta1", namespace: namespace)
        api = server
        try server.put("/api/v1/services", ServiceAgentTests.dnsService)
        try server.put("/apis/discovery.k8s.io/v1beta1/endpointslices", ServiceAgentTests.slice("v1beta1", ["10.244.1.3", "10.244.2.7"]))
        try FakeAPIServer.kubeconfig(server: server.server).write(toFile: "\(directory)/kubeconfig", atomically: true, encoding: .utf8)
        let started = try Daemon(
            server.inNamespace([
                binary("weftd"), "run", "--backend", "none", "--services", "--kubeconfig", "\(directory)/kubeconfig", "--node-name", "node-1",
                "--net-conf", "\(directory)/absent-net-conf.json", "--metrics-address", "127.0.0.1:9412", "--state-file", "\(directory)/agent.json",
            ]), logPath: "\(directory)/weftd.log")
        weftd = started
        func metric(_ name: String) -> Double? {
            let text = (try? run(server.inNamespace(["/usr/bin/curl", "-sf", "http://127.0.0.1:9412/metrics"])).stdout) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let synced = waitUntil(timeout: 30) { (metric("weftd_services_syncs_total") ?? 0) >= 1 && metric("weftd_service_endpoints") == 2 }
        #expect(synced != nil, "not synced: \(started.log.suffix(3000))")
        #expect(metric("weftd_services") == 1)
        // In the kernel, not only counted: the Service's ClusterIP in the dispatch map weftd wrote.
        let dispatch = try run(server.inNamespace(["/usr/sbin/nft", "list", "map", "inet", "weft-services", "service-ips"]))
        #expect(dispatch.stdout.contains("10.96.0.10 . udp . 53"), "\(dispatch.stdout) \(dispatch.stderr)")
        let healthz = try run(server.inNamespace(["/usr/bin/curl", "-s", "http://127.0.0.1:9412/healthz"]))
        #expect(healthz.stdout.contains("ok"), "\(healthz.stdout)")
        #expect(started.exitCode() == nil, "weftd ended: \(started.log.suffix(3000))")
        // A change reaches the kernel's writer too: one endpoint goes.
        try server.put("/apis/discovery.k8s.io/v1beta1/endpointslices", ServiceAgentTests.slice("v1beta1", ["10.244.1.3"]))
        #expect(waitUntil(timeout: 30) { metric("weftd_service_endpoints") == 1 } != nil, "\(started.log.suffix(3000))")
        #expect((metric("weftd_services_sync_errors_total") ?? 0) == 0)
    }
}
