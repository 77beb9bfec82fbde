import Foundation
import Testing
import WeftTestSupport

/// weftd --network-policy against a real kube-apiserver, pods wired by the real plugin: the table
/// follows the API, a pod's verdicts are in the kernel when its ADD returns, and when weftd cannot
/// answer a pod is isolated or (failClosed) refused, never open.
@Suite(.serialized, .privileged)
struct PolicyAgentTests {
    static let objects = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: prod}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web, namespace: prod, labels: {app: web}}
        spec: {nodeName: n1, containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: client, namespace: prod, labels: {role: client}}
        spec: {nodeName: n1, containers: [{name: c, image: x}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: other, namespace: prod, labels: {role: other}}
        spec: {nodeName: n1, containers: [{name: c, image: x}]}
        """
    static func policy(allowing role: String) -> String {
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: web-ingress, namespace: prod}
        spec:
          podSelector: {matchLabels: {app: web}}
          ingress: [{from: [{podSelector: {matchLabels: {role: \(role)}}}], ports: [{port: http}]}]
        """
    }

    @Test func theTableFollowsTheAPIAndAPodIsCoveredWhenItsAddReturns() throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        try lab.apply(Self.objects)
        try lab.apply(Self.policy(allowing: "client"))
        try lab.startWeftd()
        // kubelet has not reported any address: the ADDs announce them.
        let web = try lab.add("web")
        let map = try lab.inNode(["/usr/sbin/nft", "list", "map", "inet", "weft-policy", "ingress4"]).stdout
        #expect(map.contains("\(web) : jump in-"), "web's verdict is in the kernel when its ADD returns: \(map)")
        _ = try lab.add("client")
        _ = try lab.add("other")
        try lab.serve("web", port: 8080)
        try lab.serve("web", port: 9090)
        #expect(try lab.answer(from: "client", to: web, port: 8080) == "web")
        #expect(try lab.connect(from: "client", to: web, port: 9090) == "", "a port the policy does not name")
        #expect(try lab.connect(from: "other", to: web, port: 8080) == "", "a pod the policy does not name")
        // A second web pod once the node is compiled: its ADD adds its elements alone, to web's chain.
        try lab.apply(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: web2, namespace: prod, labels: {app: web}}
            spec: {nodeName: n1, containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
            """)
        _ = waitUntil(timeout: 5) {
            (try? lab.inNode([binary("weftctl"), "policy", "ls", "--pod", "prod/web2", "--socket", lab.socket]).stdout.contains("no address yet")) == true
        }
        let quickBefore = try lab.metric("weftd_policy_quick_attaches_total")
        let web2 = try lab.add("web2")
        #expect(try lab.metric("weftd_policy_quick_attaches_total") == quickBefore + 1, "web2's ADD added its elements alone")
        try lab.serve("web2", port: 8080)
        #expect(try lab.answer(from: "client", to: web2, port: 8080) == "web2")
        #expect(try lab.connect(from: "other", to: web2, port: 8080) == "")
        let explained = try lab.inNode([binary("weftctl"), "policy", "ls", "--pod", "prod/web", "--socket", lab.socket]).stdout
        #expect(
            explained.contains("prod/web (\(web))") && explained.contains("ingress: isolated; allowed only as prod/web-ingress allow")
                && explained.contains("egress: open"), "\(explained)")

        // The policy changed: the new peer passes, the old one no longer does.
        try lab.apply(Self.policy(allowing: "other"))
        #expect(waitUntil(timeout: 10) { (try? lab.connect(from: "other", to: web, port: 8080)) == "web" } != nil)
        #expect(try lab.answer(from: "other", to: web2, port: 8080) == "web2", "the control of other to web2 above")
        #expect(try lab.connect(from: "client", to: web, port: 8080) == "")
        // A pod's labels changed: it is a peer no more.
        try lab.kubectl("label", "-n", "prod", "pod", "other", "role=former", "--overwrite")
        #expect(waitUntil(timeout: 10) { (try? lab.connect(from: "other", to: web, port: 8080)) == "" } != nil)
        // Deleted: open again.
        try lab.kubectl("delete", "-n", "prod", "networkpolicy", "web-ingress")
        #expect(waitUntil(timeout: 10) { (try? lab.connect(from: "client", to: web, port: 9090)) == "web" } != nil)
        let metrics = try lab.metrics()
        #expect(metrics.contains("weftd_policies 0") && metrics.contains("weftd_policy_event_to_kernel_seconds"), "\(metrics)")
    }

    /// weftd started for a node the API does not have (a wrong --node-name) enforced nothing and said ok.
    @Test func weftdRefusesToStartForANodeTheAPIDoesNotHave() throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        let arguments = { (node: String) in
            [
                "/usr/bin/timeout", "-s", "KILL", "30", binary("weftd"), "run", "--backend", "none", "--network-policy",
                "--kubeconfig", "\(lab.directory)/kubeconfig", "--node-name", node, "--policy-socket", lab.socket,
                "--metrics-address", "127.0.0.1:9412", "--state-file", "\(lab.directory)/state-\(node).json",
            ]
        }
        let refused = try lab.inNode(arguments("n9"))
        #expect(refused.status != 0 && refused.status != 137, "\(refused.stderr)")
        #expect(refused.stderr.contains("node n9 does not exist in the API"), "\(refused.stderr)")
        // The control: the lab's own node starts (and is stopped by its PID).
        try lab.startWeftd()
        #expect(try lab.metrics().contains("weftd_policies"))
    }

    /// The API server killed and started again: the table stays in the kernel meanwhile, and the
    /// resumed watches (weftd resumes from the last resourceVersion, it does not list again) bring the
    /// policy created after the restart.
    @Test func anAPIServerOutageKeepsTheTableAndTheResumedWatchesMissNothing() throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        try lab.apply(Self.objects)
        try lab.startWeftd()
        let web = try lab.add("web")
        _ = try lab.add("other")
        try lab.serve("web", port: 8080)
        #expect(try lab.answer(from: "other", to: web, port: 8080) == "web", "no policy: open")
        lab.stop("kube-apiserver", SIGKILL)
        // Enforcement stays in the kernel while the API is away: nothing is torn down.
        #expect(try lab.answer(from: "other", to: web, port: 8080) == "web")
        try lab.startAPIServer()
        try lab.apply(Self.policy(allowing: "client"))
        #expect(
            waitUntil(timeout: 20) { (try? lab.connect(from: "other", to: web, port: 8080)) == "" } != nil,
            "the watch was opened again: \(lab.log("weftd").suffix(1500))")
        #expect(try lab.metric("weftd_policy_watch_restarts_total") > 0, "the watches were opened again")
    }

    @Test func withoutWeftdAPodIsIsolatedOrRefusedNeverOpen() throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        try lab.apply(Self.objects)
        try lab.startWeftd()
        let client = try lab.add("client")
        try lab.serve("client", port: 7000)
        lab.stop("weftd")

        // failClosed: code 11, and the ADD left nothing (no reservation, no interface).
        let refused = try lab.cni("ADD", "other", failClosed: true)
        #expect(refused.status == 1 && refused.stdout.contains(#""code" : 11"#), "\(refused.stdout)")
        #expect(refused.stdout.contains("NetworkPolicy for prod/other could not be installed"), "\(refused.stdout)")
        let links = try run(["/usr/sbin/ip", "-n", "wt-\(lab.id)-pother", "link", "show", "eth0"])
        #expect(links.status != 0, "no interface in the pod")

        // Not failClosed: the pod starts isolated: nothing in, nothing out.
        let other = try lab.add("other")
        try lab.serve("other", port: 8080)
        #expect(try lab.connect(from: "other", to: client, port: 7000) == "")
        #expect(try lab.connect(from: "client", to: other, port: 8080) == "")
        let isolated = try lab.inNode(["/usr/sbin/nft", "list", "set", "inet", "weft-isolation", "pods4"]).stdout
        #expect(isolated.contains(other), "\(isolated)")

        // weftd back, and kubelet reporting the pod's address: weftd knows it and lets it out.
        try lab.startWeftd()
        let patch = #"{"status":{"podIP":"\#(other)","podIPs":[{"ip":"\#(other)"}]}}"#
        let patched = try lab.inNode([
            "/usr/bin/curl", "-sfk", "-X", "PATCH", "-H", "Authorization: Bearer weft-test-token",
            "-H", "Content-Type: application/merge-patch+json", "--data", patch,
            "https://127.0.0.1:6443/api/v1/namespaces/prod/pods/other/status",
        ])
        #expect(patched.status == 0, "\(patched.stderr)")
        #expect(
            waitUntil(timeout: 10) { (try? lab.connect(from: "client", to: other, port: 8080)) == "other" } != nil,
            "\(lab.log("weftd").suffix(1500))")
        #expect(try lab.answer(from: "other", to: client, port: 7000) == "client")
    }
}
