import Prometheus

/// weftd's Prometheus metrics (swift-prometheus), served at /metrics; every name starts with `weftd_`.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// 1 while this node holds its subnet lease.
    public let leaseHeld: Gauge
    /// Remote nodes the fabric currently connects to.
    public let peers: Gauge
    public let reconciles: Counter
    /// Kernel changes refused during reconciles (each failed route, neighbour or FDB entry counts).
    public let reconcileErrors: Counter
    public let leaseRenewals: Counter
    public let leaseRenewalErrors: Counter
    /// Watch streams that broke and were opened again after a fresh list.
    public let watchRestarts: Counter
    /// Peers left out because they cannot be reached (host-gw: not on the underlay's subnet).
    public let unreachablePeers: Gauge
    public let lastReconcileSeconds: Gauge
    /// NetworkPolicy (--network-policy): objects known, this node's pods with verdicts, and timings of the last change.
    public let policies: Gauge
    public let policyPods: Gauge
    public let policyCompileSeconds: Gauge
    public let policyEventToKernelSeconds: Gauge
    public let policyAttachSeconds: Gauge
    public let policyApplies: Counter
    public let policyQuickAttaches: Counter
    public let policyApplyErrors: Counter
    public let policyWatchRestarts: Counter
    public let policyUnreadable: Counter

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ unit: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "weftd", metricName: name, unitName: unit, helpText: help))
        }
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "weftd", metricName: name, unitName: "total", helpText: help))
        }
        leaseHeld = gauge("lease_held", "", "1 while this node holds its subnet lease")
        peers = gauge("peers", "", "Remote nodes connected by the fabric")
        unreachablePeers = gauge("unreachable_peers", "", "Peers left out: not reachable with this backend")
        lastReconcileSeconds = gauge("last_reconcile_duration", "seconds", "Duration of the last reconcile")
        reconciles = counter("reconciles", "Reconciles of routes, neighbours and FDB entries")
        reconcileErrors = counter("reconcile_errors", "Kernel changes refused during reconciles")
        leaseRenewals = counter("lease_renewals", "Successful lease keep-alives")
        leaseRenewalErrors = counter("lease_renewal_errors", "Failed lease keep-alives")
        watchRestarts = counter("watch_restarts", "Lease watches opened again after a break")
        policies = gauge("policies", "", "NetworkPolicies known from the API")
        policyPods = gauge("policy_pods", "", "This node's pods selected by a NetworkPolicy (ingress or egress)")
        policyCompileSeconds = gauge("policy_compile_duration", "seconds", "Compiling policies, pods and namespaces into the table, last change")
        policyEventToKernelSeconds = gauge("policy_event_to_kernel", "seconds", "From the API event to its change committed to the kernel, last change")
        policyAttachSeconds = gauge("policy_attach_duration", "seconds", "A pod's ADD asking for its verdicts until they were in the kernel, last pod")
        policyApplies = counter("policy_applies", "Policy table changes committed (diffs or replacements)")
        policyQuickAttaches = counter("policy_quick_attaches", "Pod ADDs served by adding their elements alone (no compile of the whole node)")
        policyApplyErrors = counter("policy_apply_errors", "Policy table changes the kernel refused")
        policyWatchRestarts = counter("policy_watch_restarts", "Pod, Namespace or NetworkPolicy watches opened again after a break")
        policyUnreadable = counter("policy_unreadable_objects", "Objects weftd could not read (a policy isolating what it selects, or weftd unhealthy)")
    }

    /// The text exposition format, as Prometheus scrapes it.
    public func exposition() -> String { registry.emitToString() }
}
