import Foundation
import Logging
import ServiceLifecycle
import Testing
import WeftAgent
import WeftTestSupport

/// weftd --services: its place in the start order and its flags refused at start.
@Suite(.timeLimit(.minutes(2)))
struct WeftdServicesTests {
    typealias Journal = WeftdServiceGroupTests.Journal

    /// The Services agent starts after the fabric and before the policy agent, and stops in reverse.
    @Test func serviceAgentStartsAfterTheFabricAndStopsBeforeIt() async throws {
        let journal = Journal()
        var parts = WeftdParts()
        parts.lease = WeftdServiceGroupTests.runner("lease", journal)
        parts.fabric = WeftdServiceGroupTests.runner("fabric", journal)
        parts.serviceAgent = WeftdServiceGroupTests.runner("service agent", journal)
        parts.policyAgent = WeftdServiceGroupTests.runner("policy agent", journal)
        let group = WeftdServiceGroup.make(parts.services, logger: Logger(label: "test"), signals: [], bound: nil)
        let running = Task { try await group.run() }
        for name in ["lease", "fabric", "service agent", "policy agent"] { try await journal.wait(for: "\(name) running") }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(journal.all.filter { $0.hasSuffix("stopped") } == ["policy agent stopped", "service agent stopped", "fabric stopped", "lease stopped"])
    }

    /// In a pod, the API's in-cluster address is the `kubernetes` Service's ClusterIP, which weftd is to
    /// serve: --services refuses to use it. The control: with --api-server the same command gets past
    /// that check to the next one (no service account outside a pod).
    @Test func servicesNeedTheAPIServersRealAddress() throws {
        let base = [binary("weftd"), "run", "--backend", "none", "--services", "--cluster-cidr", "10.244.0.0/16", "--metrics-address", "off"]
        let environment = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let refused = try run(base, environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--services needs the API server's real address"), "\(refused.stderr)")
        let explicit = try run(base + ["--api-server", "https://192.0.2.1:6443"], environment: environment)
        #expect(explicit.status != 0)
        #expect(!explicit.stderr.contains("--services needs the API server's real address"), "\(explicit.stderr)")
    }

    @Test(arguments: [
        (["--cluster-cidr", "10.244.0.0/99"], "--cluster-cidr 10.244.0.0/99 is not a CIDR"),
        (["--cluster-cidr", "10.244.0.0/16", "--api-server", "not a url"], "--api-server not a url is not"),
    ])
    func badServicesFlagsAreRefusedByName(arguments: [String], message: String) throws {
        let result = try run([binary("weftd"), "run", "--backend", "none", "--services", "--metrics-address", "off"] + arguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
