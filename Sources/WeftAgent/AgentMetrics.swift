import CoreMetrics
import Prometheus

/// weftd's metrics, made through swift-metrics with swift-prometheus as the backend (one registry per
/// agent, so tests may run several), served at /metrics as Prometheus text; every name starts with
/// `weftd_`. Durations are histograms (`_bucket`, `_sum`, `_count`, in seconds): a quantile such as
/// the p99 of pod attaches is `histogram_quantile(0.99, rate(weftd_policy_attach_duration_seconds_bucket[5m]))`.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// 1 while this node holds its subnet lease.
    public let leaseHeld: CoreMetrics.Meter
    /// Remote nodes the fabric currently connects to.
    public let peers: CoreMetrics.Meter
    public let reconciles: CoreMetrics.Counter
    /// Kernel changes refused during reconciles (each failed route, neighbour or FDB entry counts).
    public let reconcileErrors: CoreMetrics.Counter
    /// Reconciles run again by the retry timer after the kernel refused a change.
    public let reconcileRetries: CoreMetrics.Counter
    public let leaseRenewals: CoreMetrics.Counter
    public let leaseRenewalErrors: CoreMetrics.Counter
    /// Watch streams that broke and were opened again after a fresh list.
    public let watchRestarts: CoreMetrics.Counter
    /// Peers left out because they cannot be reached (host-gw: not on the underlay's subnet).
    public let unreachablePeers: CoreMetrics.Meter
    public let reconcileSeconds: CoreMetrics.Timer
    /// NetworkPolicy (--network-policy): objects known, this node's pods with verdicts, and timings of each change.
    public let policies: CoreMetrics.Meter
    public let policyPods: CoreMetrics.Meter
    public let policyCompileSeconds: CoreMetrics.Timer
    public let policyEventToKernelSeconds: CoreMetrics.Timer
    public let policyAttachSeconds: CoreMetrics.Timer
    public let policyApplies: CoreMetrics.Counter
    public let policyQuickAttaches: CoreMetrics.Counter
    public let policyApplyErrors: CoreMetrics.Counter
    /// Table writes run again by the retry timer after the kernel refused one.
    public let policyApplyRetries: CoreMetrics.Counter
    public let policyWatchRestarts: CoreMetrics.Counter
    public let policyUnreadable: CoreMetrics.Counter
    /// Services (--services), as kube-proxy's: from the API change weftd saw to the table written
    /// (network_programming_duration), writes and refused writes, Service ports and endpoints served.
    public let serviceProgrammingSeconds: CoreMetrics.Timer
    public let serviceSyncs: CoreMetrics.Counter
    public let serviceSyncErrors: CoreMetrics.Counter
    public let serviceSyncRetries: CoreMetrics.Counter
    /// Writes that could not be the diff they were meant to be: a whole table instead of a partial diff, or a
    /// replacement (affinity lost) instead of an adoption.
    public let serviceSyncFallbacks: CoreMetrics.Counter
    /// Netlink messages the table writes sent: what one change costs the kernel.
    public let serviceKernelMessages: CoreMetrics.Counter
    public let services: CoreMetrics.Meter
    public let serviceEndpoints: CoreMetrics.Meter
    public let serviceUnreadable: CoreMetrics.Counter
    public let serviceWatchRestarts: CoreMetrics.Counter
    /// healthCheckNodePort sockets: open now, and binds that failed (each retried on the next change).
    public let serviceHealthCheckListeners: CoreMetrics.Meter
    public let serviceHealthCheckBindErrors: CoreMetrics.Counter

    /// Histogram buckets for every duration: a quick attach takes about a millisecond, a compile of
    /// thousands of pods a second or more, a reconcile waits on the kernel.
    public static let durationBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        // Made in the registry with their help text (a `# HELP` line each, as Prometheus' conventions ask),
        // then wrapped as swift-metrics types; the factory alone would give them none.
        let factory = PrometheusMetricsFactory(registry: registry)
        func meter(_ name: String, _ help: String) -> CoreMetrics.Meter {
            let label = "weftd_" + name
            return CoreMetrics.Meter(label: label, dimensions: [], handler: registry.makeGauge(name: label, help: help), factory: factory)
        }
        func counter(_ name: String, _ help: String) -> CoreMetrics.Counter {
            let label = "weftd_\(name)_total"
            return CoreMetrics.Counter(label: label, dimensions: [], handler: registry.makeCounter(name: label, help: help), factory: factory)
        }
        func timer(_ name: String, _ help: String) -> CoreMetrics.Timer {
            let label = "weftd_\(name)_seconds"
            let histogram = registry.makeDurationHistogram(name: label, buckets: Self.durationBuckets, help: help)
            return CoreMetrics.Timer(label: label, dimensions: [], handler: histogram, factory: factory)
        }
        leaseHeld = meter("lease_held", "1 while this node holds its subnet lease, else 0.")
        peers = meter("peers", "Remote nodes the fabric connects to now.")
        unreachablePeers = meter("unreachable_peers", "Peers left out because they cannot be reached (host-gw: not on the underlay's subnet).")
        reconcileSeconds = timer("reconcile_duration", "Time one reconcile of the fabric (routes, neighbours, FDB entries) took.")
        reconciles = counter("reconciles", "Reconciles of the fabric with the leases.")
        reconcileErrors = counter("reconcile_errors", "Kernel changes refused during reconciles (each failed route, neighbour or FDB entry counts).")
        reconcileRetries = counter("reconcile_retries", "Reconciles run again by the retry timer after the kernel refused a change.")
        leaseRenewals = counter("lease_renewals", "Subnet lease renewals that succeeded.")
        leaseRenewalErrors = counter("lease_renewal_errors", "Subnet lease renewals that failed.")
        watchRestarts = counter("watch_restarts", "Lease watch streams that broke and were opened again after a fresh list.")
        policies = meter("policies", "NetworkPolicies known.")
        policyPods = meter("policy_pods", "This node's pods with verdicts in the policy table.")
        policyCompileSeconds = timer("policy_compile_duration", "Time one compile of the whole policy into a table image took.")
        policyEventToKernelSeconds = timer("policy_event_to_kernel", "Time from an API change weftd saw to the policy table written with it.")
        policyAttachSeconds = timer(
            "policy_attach_duration", "Time from a pod's attach request on the policy socket to its answer, its verdicts in the kernel.")
        policyApplies = counter("policy_applies", "Policy table writes (each the diff from the last one, one transaction).")
        policyQuickAttaches = counter("policy_quick_attaches", "Pods attached by adding their elements alone, without compiling the whole policy.")
        policyApplyErrors = counter("policy_apply_errors", "Policy table writes the kernel refused.")
        policyApplyRetries = counter("policy_apply_retries", "Policy table writes run again by the retry timer after the kernel refused one.")
        policyWatchRestarts = counter("policy_watch_restarts", "Watches of Pods, Namespaces or NetworkPolicies that broke and were opened again.")
        policyUnreadable = counter("policy_unreadable_objects", "Pods, Namespaces or NetworkPolicies weftd could not read (what they select is denied).")
        serviceProgrammingSeconds = timer(
            "services_network_programming_duration", "Time from an API change to Services weftd saw to the Services table written with it.")
        serviceSyncs = counter("services_syncs", "Services table writes.")
        serviceSyncErrors = counter("services_sync_errors", "Services table writes the kernel refused.")
        serviceSyncRetries = counter("services_sync_retries", "Services table writes run again by the retry timer after the kernel refused one.")
        serviceSyncFallbacks = counter(
            "services_sync_fallbacks", "Services table writes the kernel refused as a diff and took whole (or replaced, losing ClientIP affinity).")
        serviceKernelMessages = counter("services_kernel_messages", "Netlink messages the Services table writes sent.")
        services = meter("services", "Service ports served, one per port and IP family.")
        serviceEndpoints = meter("service_endpoints", "Endpoints of the Service ports served (an endpoint of two ports counts twice).")
        serviceUnreadable = counter("services_unreadable_objects", "Services, EndpointSlices, Endpoints or Nodes weftd could not read.")
        serviceWatchRestarts = counter("services_watch_restarts", "Watches of Services, their endpoints or the Node that broke and were opened again.")
        serviceHealthCheckListeners = meter("service_health_check_listeners", "healthCheckNodePort sockets open now.")
        serviceHealthCheckBindErrors = counter(
            "services_health_check_bind_errors", "healthCheckNodePort sockets that could not be bound (each tried again on the next change).")
    }

    /// The text exposition format, as Prometheus scrapes it.
    public func exposition() -> String { registry.emitToString() }
}

extension CoreMetrics.Timer {
    /// Records a Duration as measured by ContinuousClock.
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
