import Foundation
import Testing
import WeftTestSupport

/// The kube backend against a fake API server: the API's JSON as the real one speaks it (list, watch
/// from a resourceVersion, merge patch), not a real cluster. The real API server's tests come later.
@Suite(.serialized, .privileged)
struct KubeBackendTests {
    @Test func podCIDRsAreTheLeasesAnnotationsArePublishedAndDeletedNodesForgotten() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#, engine: .fakeKube)
        defer { cluster.cleanup() }
        let nodes = try (1...3).map { try TestNodeAgent(cluster, number: $0) }
        for (number, node) in nodes.enumerated() {
            let created = try cluster.kube(
                "POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"\#(node.label)"},"spec":{"podCIDR":"10.244.\#(21 + number).0/24"}}"#)
            #expect(created.status == 0)
        }
        for node in nodes { try node.start() }
        #expect(try nodes.map { try $0.leasedSubnet() } == ["10.244.21.1/24", "10.244.22.1/24", "10.244.23.1/24"])

        let published = try cluster.kube("GET", "/api/v1/nodes/n1").stdout
        let annotations =
            (try JSONSerialization.jsonObject(with: Data(published.utf8)) as? [String: Any])
            .flatMap { ($0["metadata"] as? [String: Any])?["annotations"] as? [String: String] } ?? [:]
        #expect(
            annotations == [
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/backend-data": #"{"VNI":1,"VtepMAC":"0e:57:0a:4d:00:0b"}"#,
                "flannel.alpha.coreos.com/public-ip": "10.77.0.11",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            ])

        let pods = try nodes.map { try $0.addPod() }
        let reachable = waitUntil(timeout: 20) { (try? ping(from: pods[0].namespace, to: pods[1].address)) == true }
        #expect(reachable != nil, "\(nodes[0].weftd?.log.suffix(3000) ?? "")")
        #expect(answersPing(from: pods[0].namespace, to: pods[2].address))

        // The Node object deleted: its routes go at once (node objects have no TTL).
        nodes[2].weftd?.stop(SIGKILL)
        try cluster.kube("DELETE", "/api/v1/nodes/n3")
        let forgotten = waitUntil(timeout: 10) { (try? nodes[0].exec("ip", "route", "show", "10.244.23.0/24").stdout.isEmpty) == true }
        print("[weftd kube] Node n3 deleted → its route gone on node 1: \(forgotten.map { String(format: "%.2f", $0) } ?? "never") s")
        #expect(forgotten != nil)
    }

    /// A Node the controller-manager has not given a pod CIDR yet: weftd reads it, then waits on the Node
    /// watch (no asking every second) and leases the pod CIDR the patch brings.
    @Test func aNodeWithoutAPodCIDRIsLeasedWhenTheWatchBringsOne() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, engine: .fakeKube)
        defer { cluster.cleanup() }
        let node = try TestNodeAgent(cluster, number: 1)
        #expect(try cluster.kube("POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"n1"},"spec":{}}"#).status == 0)
        try node.start()
        #expect(!FileManager.default.fileExists(atPath: node.subnetFile), "no pod CIDR, no subnet.env")
        #expect(try cluster.kube("PATCH", "/api/v1/nodes/n1", body: #"{"spec":{"podCIDR":"10.244.21.0/24"}}"#).status == 0)
        #expect(try node.leasedSubnet() == "10.244.21.1/24")
    }

    /// The API server goes away (every request dropped, the Node watch cut): weftd's Informer resumes
    /// the watch again and again, and the routes stay. Once it has been broken longer than the bound
    /// (lowered to 3 s here; 60 s by default) /healthz fails and `weftd status` says since when and why.
    /// Healthy before the outage (the control) and again once the API answers, and the resumed watch
    /// then brings a node that joined afterwards.
    @Test func aNodeWatchBrokenPastItsBoundMakesTheNodeUnhealthyUntilItResumes() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, engine: .fakeKube)
        defer { cluster.cleanup() }
        let node = try TestNodeAgent(cluster, number: 1)
        #expect(try cluster.kube("POST", "/api/v1/nodes", body: #"{"kind":"Node","metadata":{"name":"n1"},"spec":{"podCIDR":"10.244.21.0/24"}}"#).status == 0)
        try node.start(extra: ["--lease-watch-bound", "3s"])
        #expect(try node.leasedSubnet() == "10.244.21.1/24")
        #expect(waitUntil(timeout: 60) { node.healthy() } != nil, "\((try? node.healthz()) ?? "no answer")")
        #expect(try node.status().status == 0)

        #expect(try cluster.kube("POST", "/control/outage", body: #"{"down":true}"#).status == 0)
        let broken = waitUntil(timeout: 120) {
            let health = (try? node.healthz()) ?? ""
            return health.contains("the lease watch has been broken") && health.hasSuffix(" 503")
        }
        #expect(broken != nil, "healthz: \((try? node.healthz()) ?? "no answer")\n\(node.weftd?.log.suffix(3000) ?? "")")
        let status = try node.status()
        #expect(
            status.status == 3 && status.stdout.contains("watch:    broken since") && status.stdout.contains("bound 3 s"),
            "weftd status (\(status.status)): \(status.stdout)")

        let restored = Date()
        #expect(try cluster.kube("POST", "/control/outage", body: #"{"down":false}"#).status == 0)
        let healthy = waitUntil(timeout: 120) { node.healthy() }
        print(
            "[weftd kube watch] API gone → /healthz 503 after \(broken.map { String(format: "%.2f", $0) } ?? "never") s (bound 3 s); "
                + "API back → healthy after \(healthy.map { _ in String(format: "%.2f", Date().timeIntervalSince(restored)) } ?? "never") s")
        #expect(healthy != nil, "healthz: \((try? node.healthz()) ?? "no answer")\n\(node.weftd?.log.suffix(3000) ?? "")")
        let after = try node.status()
        #expect(after.status == 0 && !after.stdout.contains("broken"), "\(after.stdout)")
        // The resumed watch delivers: a node published after the outage gets its route.
        let joined =
            #"{"kind":"Node","metadata":{"name":"n2","annotations":{"flannel.alpha.coreos.com/kube-subnet-manager":"true","flannel.alpha.coreos.com/backend-type":"host-gw","flannel.alpha.coreos.com/backend-data":"null","flannel.alpha.coreos.com/public-ip":"10.77.0.12"}},"spec":{"podCIDR":"10.244.22.0/24"}}"#
        #expect(try cluster.kube("POST", "/api/v1/nodes", body: joined).status == 0)
        #expect(
            waitUntil(timeout: 60) { (try? node.exec("ip", "route", "show", "10.244.22.0/24").stdout.contains("via 10.77.0.12")) == true } != nil,
            "\(node.weftd?.log.suffix(2000) ?? "")")
    }
}
