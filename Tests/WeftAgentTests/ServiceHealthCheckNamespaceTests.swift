import Foundation
import Testing
import WeftTestSupport

/// weftd --services's healthCheckNodePort servers end to end in a throwaway network namespace
/// (ServicesNamespaceLab), the Node's InternalIP (192.168.1.10) on a veth there. The fake
/// Node also lists 127.0.0.1, which must not be listened on.
@Suite(.serialized, .privileged)
struct ServiceHealthCheckNamespaceTests {
    static func service(_ name: String, healthCheckNodePort: Int?) -> String {
        let local = healthCheckNodePort.map { #","externalTrafficPolicy":"Local","healthCheckNodePort":\#($0)"# } ?? #","externalTrafficPolicy":"Cluster""#
        let clusterIP = name == "web" ? "10.96.0.20" : "10.96.0.21"
        return #"""
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"\#(name)","namespace":"shop"},
            "spec":{"type":"LoadBalancer","clusterIP":"\#(clusterIP)","clusterIPs":["\#(clusterIP)"],
            "ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080,"nodePort":\#(name == "web" ? 31080 : 31081)},
            {"name":"https","port":443,"protocol":"TCP","targetPort":8443,"nodePort":\#(name == "web" ? 31443 : 31444)}]\#(local)}}
            """#
    }

    /// One v1 slice of `service`: each endpoint (address, node) serves both ports.
    static func slice(_ service: String, _ endpoints: [(String, String)]) -> String {
        let list = endpoints.map { #"{"addresses":["\#($0.0)"],"conditions":{"ready":true},"nodeName":"\#($0.1)"}"# }.joined(separator: ",")
        return #"""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
            "metadata":{"name":"\#(service)-a","namespace":"shop","labels":{"kubernetes.io/service-name":"\#(service)"}},
            "endpoints":[\#(list)],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"https","port":8443,"protocol":"TCP"}]}
            """#
    }

    @Test func loadBalancersAreToldWhichServicesHaveLocalEndpointsHere() throws {
        let lab = try ServicesNamespaceLab(label: "hc", serving: "v1")
        defer { lab.cleanup() }
        let namespace = lab.namespace
        // A veth pair inside the namespace (this kernel has no dummy driver): node0 holds the node's address.
        for step in [
            ["link", "add", "node0", "type", "veth", "peer", "name", "node1"], ["address", "add", "192.168.1.10/24", "dev", "node0"],
            ["link", "set", "node0", "up"], ["link", "set", "node1", "up"],
        ] {
            let done = try runProgram("/usr/sbin/ip", ["-n", namespace] + step)
            guard done.status == 0 else { throw TestFailure("ip \(step): \(done.stderr)") }
        }
        let server = lab.api
        try server.put("/api/v1/services", Self.service("web", healthCheckNodePort: 32001))
        try server.put("/api/v1/services", Self.service("api", healthCheckNodePort: 32002))
        // web: two pods here (each serving both ports: 2, not 4) and one elsewhere; api: only elsewhere.
        try server.put(
            "/apis/discovery.k8s.io/v1/endpointslices", Self.slice("web", [("10.244.1.3", "node-1"), ("10.244.1.4", "node-1"), ("10.244.2.7", "node-2")]))
        try server.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("api", [("10.244.2.8", "node-2")]))
        let started = try lab.startWeftd()
        func get(_ address: String, _ port: Int) -> (exit: Int32, status: String, weight: String, body: String) {
            (try? ServiceHealthCheckTests.get(inNamespace: server, "http://\(address):\(port)/healthz")) ?? (-1, "", "", "")
        }
        let web = waitUntil(timeout: 30) { get("192.168.1.10", 32001).status == "200" }
        #expect(web != nil, "web never answered: \(started.log.suffix(3000))")
        let webAnswer = get("192.168.1.10", 32001)
        #expect(webAnswer.weight == "2" && webAnswer.body.contains("\"localEndpoints\": 2") && webAnswer.body.contains("\"name\": \"web\""), "\(webAnswer)")
        let apiAnswer = get("192.168.1.10", 32002)
        #expect(apiAnswer.status == "503" && apiAnswer.body.contains("\"localEndpoints\": 0") && apiAnswer.body.contains("\"name\": \"api\""), "\(apiAnswer)")
        // Loopback is not a node address for the load balancer: refused there while 192.168.1.10 answers.
        #expect(get("127.0.0.1", 32001).exit == 7)
        // api gains a local endpoint: the same socket now says 200.
        try server.put("/apis/discovery.k8s.io/v1/endpointslices", Self.slice("api", [("10.244.2.8", "node-2"), ("10.244.1.5", "node-1")]))
        #expect(waitUntil(timeout: 30) { get("192.168.1.10", 32002).status == "200" } != nil, "\(started.log.suffix(3000))")
        // web loses its healthCheckNodePort (Cluster): its socket closes; api's still answers (the positive control).
        try server.put("/api/v1/services", Self.service("web", healthCheckNodePort: nil))
        #expect(waitUntil(timeout: 30) { get("192.168.1.10", 32001).exit == 7 } != nil, "\(started.log.suffix(3000))")
        #expect(get("192.168.1.10", 32002).status == "200")
        // api deleted: its socket closes too.
        try server.delete("/api/v1/services", "shop/api")
        #expect(waitUntil(timeout: 30) { get("192.168.1.10", 32002).exit == 7 } != nil, "\(started.log.suffix(3000))")
        // web gains it back: the port its closed connections left in TIME_WAIT is bound again.
        try server.put("/api/v1/services", Self.service("web", healthCheckNodePort: 32001))
        let reopened = waitUntil(timeout: 30) { get("192.168.1.10", 32001).status == "200" }
        #expect(reopened != nil, "\(started.log.suffix(3000))")
        #expect(started.exitCode() == nil, "weftd ended: \(started.log.suffix(3000))")
        #expect(!started.log.contains("cannot be bound"), "\(started.log.suffix(3000))")
        print("health check: first answer after \(web ?? -1) s, reopened after \(reopened ?? -1) s")
        // weftd stopped by SIGTERM closes it: refused now, answered just before.
        #expect(lab.stopWeftd(SIGTERM) == 0, "\(started.log.suffix(3000))")
        #expect(get("192.168.1.10", 32001).exit == 7)
    }
}
