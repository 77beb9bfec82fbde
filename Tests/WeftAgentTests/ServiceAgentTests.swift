import Foundation
import Logging
import Testing
import WeftAddress
import WeftAgent
import WeftKube
import WeftNftables
import WeftServices
import WeftTestSupport

/// A ServiceKernel that records what the agent hands the kernel, and refuses writes while told to.
final class RecordingServiceKernel: ServiceKernel, @unchecked Sendable {  // every field behind `lock`
    private let lock = NSLock()
    private var writes: [[ServicePortPlan]] = []
    private var flows: [[StaleFlow]] = []
    private var refusals = 0

    /// The next `count` writes are refused.
    func refuse(_ count: Int) { lock.withLock { refusals = count } }

    /// The table as the kernel would hold it: the first write whole, each later one its change applied
    /// (what ServiceTable sends), so a test sees a wrong change even when the agent's state is right.
    private var table: NftTableModel?
    var kernelTable: NftTableModel? { lock.withLock { table } }

    func write(_ change: ServiceImageState.Change, state: ServiceImageState) throws -> Int {
        let plans = state.plans
        let whole = lock.withLock { table == nil } ? state.image() : nil
        return try lock.withLock {
            if refusals > 0 {
                refusals -= 1
                throw ServiceObjectError("refused by the test")
            }
            writes.append(plans)
            if let whole { table = NftTableModel(whole) } else { table?.apply(from: change.before, to: change.after) }
            return 1
        }
    }

    func deleteStale(_ flows: [StaleFlow]) throws -> Int {
        lock.withLock { self.flows.append(flows) }
        return flows.count
    }

    /// What conntrack holds when the agent starts (a previous weftd's flows).
    private var held: [StaleFlow] = []
    func hold(_ flows: [StaleFlow]) { lock.withLock { held = flows } }
    func udpFlows() throws -> [StaleFlow] { lock.withLock { held } }
    /// What a previous weftd's table served, as the table read it before the first write.
    private var found: [ServiceListing] = []
    func inherit(_ listing: [ServiceListing]) { lock.withLock { found = listing } }
    var inherited: [ServiceListing]? { lock.withLock { writes.isEmpty ? nil : found } }
    func takeFallback() -> String? { nil }

    var lastPlans: [ServicePortPlan]? { lock.withLock { writes.last } }
    var writeCount: Int { lock.withLock { writes.count } }
    var staleFlows: [StaleFlow] { lock.withLock { flows.flatMap { $0 } } }
}

/// ServiceAgent against a fake API server: what it hands the kernel as Services and their endpoints
/// are created, changed and deleted, for each endpoint API a server may have.
/// The waits have no deadline of their own: beside the privileged suites' blocking waits the cooperative
/// pool may not run the agent for many seconds; the suite's time limit bounds them.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServiceAgentTests {
    static let dnsService = #"""
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-dns","namespace":"kube-system"},
        "spec":{"type":"NodePort","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ports":[{"name":"dns","port":53,"protocol":"UDP","targetPort":53,"nodePort":30053}]}}
        """#

    static func slice(_ version: String, _ addresses: [String], name: String = "kube-dns-a", readyField: String = "true") -> String {
        let endpoints = addresses.map { address in
            let node = address.hasSuffix(".1.3") ? "node-1" : "node-2"
            let where_ = version == "v1beta1" ? #""topology":{"kubernetes.io/hostname":"\#(node)"}"# : #""nodeName":"\#(node)""#
            return #"{"addresses":["\#(address)"],"conditions":{"ready":\#(readyField)},\#(where_)}"#
        }
        return #"""
            {"apiVersion":"discovery.k8s.io/\#(version)","kind":"EndpointSlice","addressType":"IPv4",
            "metadata":{"name":"\#(name)","namespace":"kube-system","labels":{"kubernetes.io/service-name":"kube-dns"}},
            "endpoints":[\#(endpoints.joined(separator: ","))],"ports":[{"name":"dns","port":53,"protocol":"UDP"}]}
            """#
    }

    static func endpoints(_ addresses: [String]) -> String {
        let list = addresses.map { #"{"ip":"\#($0)","nodeName":"node-2"}"# }.joined(separator: ",")
        return #"""
            {"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"kube-dns","namespace":"kube-system"},
            "subsets":[{"addresses":[\#(list)],"ports":[{"name":"dns","port":53,"protocol":"UDP"}]}]}
            """#
    }

    /// The fake API, the recording kernel and a running agent; stopped by `stop`.
    final class Lab: @unchecked Sendable {  // set up once, then read only
        let api: FakeKubeAPI
        let client: KubeClient
        let kernel = RecordingServiceKernel()
        let metrics = AgentMetrics()
        var agent: ServiceAgent?
        var running: Task<Void, Never>?

        init(serving versions: String) throws {
            api = try FakeKubeAPI.services(serving: versions)
            client = try KubeClient(credentials: KubeCredentials(server: api.server))
        }

        func start(retry: RetryTimer = RetryTimer(first: .milliseconds(100), longest: .milliseconds(400))) async throws -> ServiceEndpointSource {
            let (source, addresses) = try await ServiceAgent.discover(client: client, node: "node-1")
            let agent = ServiceAgent(
                client: client, node: "node-1", serviceNode: ServiceNode(nodePortAddresses: addresses, clusterCIDRs: [IPNetwork("10.244.0.0/16")!]),
                source: source, table: kernel, logger: Logger(label: "test"), metrics: metrics, kernel: KernelQueue(), retry: retry)
            self.agent = agent
            running = Task { await agent.run() }
            return source
        }

        /// Waits (without blocking a thread of the pool the agent runs on; no deadline, see the suite) until the kernel's last plans satisfy `condition`.
        func plans(_ condition: ([ServicePortPlan]) -> Bool) async -> [ServicePortPlan]? {
            while !Task.isCancelled {
                if let plans = kernel.lastPlans, condition(plans) { return plans }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }

        /// Waits until the agent's NodePort addresses satisfy `condition`.
        func nodeAddresses(_ condition: ([IPAddress]) -> Bool) async -> Bool {
            while !Task.isCancelled {
                if let agent, condition(await agent.nodePortAddresses) { return true }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        /// Waits until the stale flows handed to the kernel satisfy `condition`.
        func flows(_ condition: ([StaleFlow]) -> Bool) async -> Bool {
            while !Task.isCancelled {
                if condition(kernel.staleFlows) { return true }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        func stop() async {
            running?.cancel()
            await running?.value
            await client.shutdown()
            api.cleanup()
        }
    }

    static func endpointAddresses(_ plans: [ServicePortPlan]) -> [String] {
        plans.first?.endpoints.map { "\($0.address)" } ?? []
    }

    @Test func servicesAndV1SlicesCreatedChangedAndDeleted() async throws {
        let lab = try Lab(serving: "v1,v1beta1")
        let slices = "/apis/discovery.k8s.io/v1/endpointslices"
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put(slices, Self.slice("v1", ["10.244.1.3", "10.244.2.7"]))
            #expect(try await lab.start() == .sliceV1)
            let first = await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3", "10.244.2.7"] }
            #expect(first != nil, "\(String(describing: lab.kernel.lastPlans))")
            #expect(first?.first?.nodePort == 30053)
            #expect(first?.first?.endpoints.map(\.isLocal) == [true, false])
            // One endpoint goes: its UDP flows to every frontend are stale, the kept one's are not.
            try lab.api.put(slices, Self.slice("v1", ["10.244.1.3"]))
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
            let gone = IPAddress("10.244.2.7")!
            #expect(
                Set(lab.kernel.staleFlows)
                    == [
                        StaleFlow(frontend: IPAddress("10.96.0.10")!, port: 53, endpoint: gone),
                        StaleFlow(frontend: IPAddress("192.168.1.10")!, port: 30053, endpoint: gone),
                    ])
            // The Node's address changes: the NodePort moves with it.
            try lab.api.put(
                "/api/v1/nodes", #"{"metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.20"}]}}"#)
            #expect(await lab.nodeAddresses { $0 == [IPAddress("192.168.1.20")!] })
            try lab.api.put(slices, Self.slice("v1", ["10.244.1.3", "10.244.2.8"]))
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3", "10.244.2.8"] } != nil)
            try lab.api.put(slices, Self.slice("v1", ["10.244.1.3"]))
            let moved = await lab.flows {
                $0.contains(StaleFlow(frontend: IPAddress("192.168.1.20")!, port: 30053, endpoint: IPAddress("10.244.2.8")!))
            }
            #expect(moved, "\(lab.kernel.staleFlows)")
            // A second Service, then the first deleted.
            try lab.api.put(
                "/api/v1/services",
                Self.dnsService.replacingOccurrences(of: "kube-dns", with: "other").replacingOccurrences(of: "10.96.0.10", with: "10.96.0.11"))
            #expect(await lab.plans { $0.map(\.id) == ["kube-system/kube-dns:dns", "kube-system/other:dns"] } != nil)
            try lab.api.delete("/api/v1/services", "kube-system/kube-dns")
            #expect(await lab.plans { $0.map(\.id) == ["kube-system/other:dns"] } != nil)
            let exposition = lab.metrics.exposition()
            #expect(exposition.contains("weftd_services_network_programming_duration_seconds_count"))
            #expect(exposition.contains("weftd_services_syncs_total"))
            #expect(exposition.contains("weftd_services 1"))
            // The recording kernel counts one message per write.
            #expect(exposition.contains("weftd_services_kernel_messages_total \(lab.kernel.writeCount)"), "\(exposition)")
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    @Test func v1beta1SlicesOfKubernetes120() async throws {
        let lab = try Lab(serving: "v1beta1")
        let slices = "/apis/discovery.k8s.io/v1beta1/endpointslices"
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put(slices, Self.slice("v1beta1", ["10.244.1.3", "10.244.2.7"]))
            #expect(try await lab.start() == .sliceV1beta1)
            let plans = await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3", "10.244.2.7"] }
            #expect(plans?.first?.endpoints.map(\.isLocal) == [true, false], "\(String(describing: lab.kernel.lastPlans))")
            // Not ready (terminating, as 1.20 reports it) is not served.
            try lab.api.put(
                slices, Self.slice("v1beta1", ["10.244.1.3"], name: "kube-dns-a").replacingOccurrences(of: "\"ready\":true", with: "\"ready\":false"))
            #expect(await lab.plans { $0.count == 1 && $0[0].endpoints.isEmpty } != nil)
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    /// The Nodes informer lists and watches this node's object only (fieldSelector=metadata.name), not
    /// every Node of the cluster; another Node's change is not this node's, this node's still moves the NodePorts.
    @Test func theNodesInformerAsksForThisNodeOnly() async throws {
        let lab = try Lab(serving: "v1")
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("v1", ["10.244.1.3"]))
            _ = try await lab.start()
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
            try lab.api.put(
                "/api/v1/nodes", #"{"metadata":{"name":"node-2"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.30"}]}}"#)
            try lab.api.put(
                "/api/v1/nodes", #"{"metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.20"}]}}"#)
            #expect(await lab.nodeAddresses { $0 == [IPAddress("192.168.1.20")!] })
            let requests = try lab.api.queries("/api/v1/nodes")
            #expect(requests.contains { $0["watch"] == ["true"] } && requests.contains { $0["watch"] == nil }, "a list and a watch: \(requests)")
            #expect(requests.allSatisfy { $0["fieldSelector"] == ["metadata.name=node-1"] }, "\(requests)")
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    /// A restarted weftd remembers no plans: its first table sweeps conntrack for UDP flows to endpoints
    /// removed, and to Services deleted, while it was down, and leaves the flows to endpoints it still
    /// serves and those its table never served.
    @Test func theFirstTableSweepsFlowsAPreviousWeftdLeft() async throws {
        let lab = try Lab(serving: "v1")
        let gone = StaleFlow(frontend: IPAddress("10.96.0.10")!, port: 53, endpoint: IPAddress("10.244.2.99")!)
        let kept = StaleFlow(frontend: IPAddress("10.96.0.10")!, port: 53, endpoint: IPAddress("10.244.1.3")!)
        // A Service deleted while no weftd ran: its frontend only in the table the previous weftd left.
        let deleted = StaleFlow(frontend: IPAddress("10.96.0.99")!, port: 53, endpoint: IPAddress("10.244.3.1")!)
        // A flow to an address no table of ours served: another program's, never touched.
        let foreign = StaleFlow(frontend: IPAddress("10.96.7.7")!, port: 53, endpoint: IPAddress("10.244.3.2")!)
        lab.kernel.hold([gone, kept, deleted, foreign])
        lab.kernel.inherit([
            ServiceListing(service: "default/old:dns", transport: "udp", frontends: ["10.96.0.99:53"], endpoints: ["10.244.3.1:53"])
        ])
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("v1", ["10.244.1.3", "10.244.2.7"]))
            _ = try await lab.start()
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3", "10.244.2.7"] } != nil)
            #expect(await lab.flows { $0.contains(gone) && $0.contains(deleted) })
            #expect(!lab.kernel.staleFlows.contains(kept) && !lab.kernel.staleFlows.contains(foreign), "\(lab.kernel.staleFlows)")
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    @Test func endpointsWhenTheServerHasNoSlices() async throws {
        let lab = try Lab(serving: "none")
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put("/api/v1/endpoints", Self.endpoints(["10.244.2.7", "10.244.2.8"]))
            #expect(try await lab.start() == .endpoints)
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.2.7", "10.244.2.8"] } != nil, "\(String(describing: lab.kernel.lastPlans))")
            try lab.api.delete("/api/v1/endpoints", "kube-system/kube-dns")
            #expect(await lab.plans { $0.count == 1 && $0[0].endpoints.isEmpty } != nil)
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    /// A slice that cannot be read makes its Service reject (no endpoints), counted; readable again, served again.
    @Test func unreadableSliceRejectsUntilItIsReadable() async throws {
        let lab = try Lab(serving: "v1")
        let slices = "/apis/discovery.k8s.io/v1/endpointslices"
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put(slices, Self.slice("v1", ["10.244.1.3"]))
            _ = try await lab.start()
            // Positive control: served while readable.
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
            try lab.api.put(slices, Self.slice("v1", ["10.244.2.7"], name: "kube-dns-b", readyField: "\"yes\""))
            #expect(await lab.plans { $0.count == 1 && $0[0].endpoints.isEmpty } != nil, "\(String(describing: lab.kernel.lastPlans))")
            #expect(lab.metrics.exposition().contains("weftd_services_unreadable_objects_total 1"))
            try lab.api.put(slices, Self.slice("v1", ["10.244.2.7"], name: "kube-dns-b"))
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3", "10.244.2.7"] } != nil)
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    /// A Service that cannot be read is served from what can be read of it, with no endpoints (it rejects),
    /// and counted; readable again, it is served with its endpoints.
    @Test func unreadableServiceRejectsUntilItIsReadable() async throws {
        let lab = try Lab(serving: "v1")
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("v1", ["10.244.1.3"]))
            _ = try await lab.start()
            // Positive control: served while readable.
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
            try lab.api.put(
                "/api/v1/services",
                Self.dnsService.replacingOccurrences(of: #""sessionAffinity":"None""#, with: "").replacingOccurrences(
                    of: #""type":"NodePort""#, with: #""type":"NodePort","sessionAffinity":7"#))
            let rejecting = await lab.plans { $0.count == 1 && $0[0].endpoints.isEmpty }
            #expect(rejecting?.first?.clusterIP == IPAddress("10.96.0.10"), "\(String(describing: lab.kernel.lastPlans))")
            #expect(lab.metrics.exposition().contains("weftd_services_unreadable_objects_total 1"))
            try lab.api.put("/api/v1/services", Self.dnsService)
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    /// The kernel refuses the first writes: the retry timer writes again with no API event.
    @Test func aRefusedWriteIsRetriedOnTheTimer() async throws {
        let lab = try Lab(serving: "v1")
        do {
            try lab.api.put("/api/v1/services", Self.dnsService)
            try lab.api.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("v1", ["10.244.1.3"]))
            lab.kernel.refuse(2)
            _ = try await lab.start()
            let health = try #require(lab.agent).health
            #expect(!health.current.healthy)
            #expect(await lab.plans { Self.endpointAddresses($0) == ["10.244.1.3"] } != nil)
            #expect(health.current.healthy, "\(health.current.reason)")
            let exposition = lab.metrics.exposition()
            #expect(exposition.contains("weftd_services_sync_errors_total 2"), "\(exposition)")
            #expect(exposition.contains("weftd_services_sync_retries_total"))
            #expect(exposition.contains("weftd_services_syncs_total 1"))
        } catch {
            Issue.record(error)
        }
        await lab.stop()
    }

    @Test func kubeProxyRulesRefuseNamingWhatToRemove() throws {
        #expect(throws: Never.self) { try ServiceAgent.refuseBesideKubeProxy([]) }
        do {
            try ServiceAgent.refuseBesideKubeProxy(["nft delete table ip kube-proxy", "iptables -t nat -F KUBE-SERVICES"])
            Issue.record("not refused")
        } catch let error as AgentError {
            #expect(error.message.contains("nft delete table ip kube-proxy"))
            #expect(error.message.contains("iptables -t nat -F KUBE-SERVICES"))
        }
    }
}
