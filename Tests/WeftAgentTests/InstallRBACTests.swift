import Foundation
import Testing
import WeftTestSupport

/// weftd as the DaemonSet runs it, against Kubernetes' own kube-apiserver with RBAC on and only what
/// deploy/weft.yaml grants its ServiceAccount: the kube backend, the policy agent, the conflist and the
/// NetworkUnavailable condition (a strategic merge that keeps the kubelet's conditions).
@Suite(.serialized, .enabled(if: Privileged.available && PolicyLab.kubeBin() != nil))
struct InstallRBACTests {
    static let manifest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/weft.yaml").path

    /// PATCH of the Node's status with `token`; the HTTP code.
    static func patchStatus(_ lab: PolicyLab, token: String, _ body: String) throws -> String {
        try lab.inNode([
            "/usr/bin/curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH",
            "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/strategic-merge-patch+json",
            "--data", body, "https://127.0.0.1:6443/api/v1/nodes/n1/status",
        ]).stdout
    }

    /// weftd as the DaemonSet runs it (kube backend, --network-policy, the conflist), as the weft
    /// ServiceAccount, with a veth `under0` (10.99.0.1/24) as its underlay; the conflist's source and destination.
    static func startWeftd(_ lab: PolicyLab) throws -> (source: String, destination: String) {
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
        users: [{name: weft, user: {token: weftd-token}}]
        contexts: [{name: x, context: {cluster: c, user: weft}}]
        current-context: x
        """.write(toFile: "\(lab.directory)/weft.kubeconfig", atomically: true, encoding: .utf8)
        try #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#.write(toFile: "\(lab.directory)/net-conf.json", atomically: true, encoding: .utf8)
        let source = "\(lab.directory)/cni-conf.json", destination = "\(lab.directory)/net.d/10-weft.conflist"
        try #"{"name":"weft","cniVersion":"1.0.0","plugins":[{"type":"weft"}]}"#.write(toFile: source, atomically: true, encoding: .utf8)
        // The underlay: a link with an address in the lab's node namespace (a veth, its peer beside it).
        let added = try ip("-n", lab.node, "link", "add", "under0", "type", "veth", "peer", "name", "under0p")
        guard added.status == 0 else { throw TestFailure("under0: \(added.stderr)") }
        try ip("-n", lab.node, "addr", "add", "10.99.0.1/24", "dev", "under0")
        try ip("-n", lab.node, "link", "set", "under0", "up")
        try lab.start(
            "weftd",
            [
                binary("weftd"), "run", "--backend", "kube", "--network-policy", "--kubeconfig", "\(lab.directory)/weft.kubeconfig",
                "--node-name", "n1", "--net-conf", "\(lab.directory)/net-conf.json", "--iface", "under0",
                "--subnet-file", "\(lab.directory)/subnet.env", "--state-file", "\(lab.directory)/agent.json",
                "--policy-socket", lab.socket, "--metrics-address", "127.0.0.1:9411",
                "--cni-conf-source", source, "--cni-conf-dest", destination,
            ])
        return (source, destination)
    }

    @Test func theManifestsClusterRoleIsEnoughForWeftd() throws {
        let lab = try PolicyLab(rbac: true)
        defer { lab.cleanup() }
        try lab.apply(try String(contentsOfFile: Self.manifest, encoding: .utf8))
        try lab.apply("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.7.0/24}\n")
        // A condition the kubelet keeps: weftd's patch must leave it.
        let kubelet =
            #"{"status":{"conditions":[{"type":"MemoryPressure","status":"False","reason":"KubeletHasSufficientMemory","message":"m","lastHeartbeatTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#
        #expect(try Self.patchStatus(lab, token: "weft-test-token", kubelet) == "200")
        // RBAC is on (negative control): a user with no binding may not patch a Node's status.
        #expect(try Self.patchStatus(lab, token: "nobody-token", kubelet) == "403")

        let (_, destination) = try Self.startWeftd(lab)
        let installed = waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: destination) }
        #expect(installed != nil, "\(lab.log("weftd").suffix(3000))")
        var conditions: [[String: Any]] = []
        let set = waitUntil(timeout: 60) {
            let text = (try? lab.kubectl("get", "node", "n1", "-o", "json").stdout) ?? ""
            let node = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            conditions = ((node?["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
            return conditions.contains {
                $0["type"] as? String == "NetworkUnavailable" && $0["status"] as? String == "False"
                    && $0["reason"] as? String == "WeftIsUp"
            }
        }
        #expect(set != nil, "conditions \(conditions); \(lab.log("weftd").suffix(3000))")
        #expect(conditions.contains { $0["type"] as? String == "MemoryPressure" }, "the kubelet's condition kept: \(conditions)")
        let annotations = try lab.kubectl("get", "node", "n1", "-o", "jsonpath={.metadata.annotations}").stdout
        #expect(annotations.contains("10.99.0.1") && annotations.contains("kube-subnet-manager"), "\(annotations)")
        let health = waitUntil(timeout: 30) {
            (try? lab.inNode(["/usr/bin/curl", "-s", "http://127.0.0.1:9411/healthz"]).stdout)?.hasPrefix("ok: conflist") == true
        }
        #expect(health != nil, "\((try? lab.inNode(["/usr/bin/curl", "-s", "http://127.0.0.1:9411/healthz"]).stdout) ?? "")")
        #expect(!lab.log("weftd").contains("forbidden"), "\(lab.log("weftd").suffix(3000))")
    }

    /// The conflist waits for the first policy sync: with NetworkPolicies unreadable (the role without
    /// them) the subnet and fabric come, the conflist does not; granted, it follows.
    @Test func theConflistWaitsForTheFirstPolicySync() throws {
        let lab = try PolicyLab(rbac: true)
        defer { lab.cleanup() }
        let manifest = try String(contentsOfFile: Self.manifest, encoding: .utf8)
        let rule = """
              - apiGroups: ["networking.k8s.io"]
                resources: ["networkpolicies"]
                verbs: ["get", "list", "watch"]

            """
        #expect(manifest.contains(rule), "the manifest's networkpolicies rule moved: update this test")
        try lab.apply(manifest.replacingOccurrences(of: rule, with: ""))
        try lab.apply("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.7.0/24}\n")
        let (_, destination) = try Self.startWeftd(lab)

        // Positive: the subnet and the fabric are there.
        let subnet = waitUntil(timeout: 60) {
            ((try? String(contentsOfFile: "\(lab.directory)/subnet.env", encoding: .utf8)) ?? "").contains("FLANNEL_SUBNET=10.244.7.1/24")
        }
        #expect(subnet != nil, "\(lab.log("weftd").suffix(3000))")
        #expect(waitUntil(timeout: 30) { (try? lab.inNode(["/usr/sbin/ip", "link", "show", "weft.1"]).status) == 0 } != nil)
        // Negative: the policy lists are refused, so no conflist and no condition; /healthz says why.
        let refused = waitUntil(timeout: 60) { lab.log("weftd").contains("networkpolicies") && lab.log("weftd").contains("403") }
        #expect(refused != nil, "\(lab.log("weftd").suffix(3000))")
        #expect(!FileManager.default.fileExists(atPath: destination))
        #expect(try !lab.kubectl("get", "node", "n1", "-o", "json").stdout.contains("NetworkUnavailable"))
        #expect(try lab.inNode(["/usr/bin/curl", "-s", "http://127.0.0.1:9411/healthz"]).stdout.contains("NetworkPolicy"))

        // Granted: the next list succeeds, the conflist and the condition follow.
        try lab.apply(manifest)
        let installed = waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: destination) }
        #expect(installed != nil, "\(lab.log("weftd").suffix(3000))")
        #expect(waitUntil(timeout: 60) { (try? lab.kubectl("get", "node", "n1", "-o", "json").stdout)?.contains("WeftIsUp") == true } != nil)
    }
}
