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
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        func meter(_ name: String) -> CoreMetrics.Meter { CoreMetrics.Meter(label: "weftd_" + name, factory: factory) }
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: "weftd_\(name)_total", factory: factory) }
        func timer(_ name: String) -> CoreMetrics.Timer { CoreMetrics.Timer(label: "weftd_\(name)_seconds", factory: factory) }
        leaseHeld = meter("lease_held")
        peers = meter("peers")
        unreachablePeers = meter("unreachable_peers")
        reconcileSeconds = timer("reconcile_duration")
        reconciles = counter("reconciles")
        reconcileErrors = counter("reconcile_errors")
        reconcileRetries = counter("reconcile_retries")
        leaseRenewals = counter("lease_renewals")
        leaseRenewalErrors = counter("lease_renewal_errors")
        watchRestarts = counter("watch_restarts")
        policies = meter("policies")
        policyPods = meter("policy_pods")
        policyCompileSeconds = timer("policy_compile_duration")
        policyEventToKernelSeconds = timer("policy_event_to_kernel")
        policyAttachSeconds = timer("policy_attach_duration")
        policyApplies = counter("policy_applies")
        policyQuickAttaches = counter("policy_quick_attaches")
        policyApplyErrors = counter("policy_apply_errors")
        policyApplyRetries = counter("policy_apply_retries")
        policyWatchRestarts = counter("policy_watch_restarts")
        policyUnreadable = counter("policy_unreadable_objects")
        serviceProgrammingSeconds = timer("services_network_programming_duration")
        serviceSyncs = counter("services_syncs")
        serviceSyncErrors = counter("services_sync_errors")
        serviceSyncRetries = counter("services_sync_retries")
        serviceKernelMessages = counter("services_kernel_messages")
        services = meter("services")
        serviceEndpoints = meter("service_endpoints")
        serviceUnreadable = counter("services_unreadable_objects")
        serviceWatchRestarts = counter("services_watch_restarts")
        serviceHealthCheckListeners = meter("service_health_check_listeners")
        serviceHealthCheckBindErrors = counter("services_health_check_bind_errors")
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
