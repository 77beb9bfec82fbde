import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import WeftAddress
import WeftServices
import WeftTestSupport

@testable import WeftAgent

/// The healthCheckNodePort servers without the API: what one write asks for (pure), the answer's bytes,
/// and the sockets on 127.0.0.1 (the servers take their addresses as given; the plan is what keeps
/// loopback out, checked here too).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServiceHealthCheckTests {
    static let v4Node = IPAddress("192.168.1.10")!
    static let v6Node = IPAddress("fd00::10")!

    static func plan(_ name: String, _ family: IPAddress.Family = .v4, port: String = "http", healthCheck: UInt16? = 32001, _ endpoints: [(String, Bool)])
        -> ServicePortPlan
    {
        ServicePortPlan(
            namespace: "shop", name: name, portName: port, family: family, clusterIP: IPAddress(family == .v4 ? "10.96.0.20" : "fd96::20"), port: 80,
            nodePort: 31000, externalTrafficLocal: healthCheck != nil, healthCheckNodePort: healthCheck,
            endpoints: endpoints.map { EndpointPlan(address: IPAddress($0.0)!, port: 8080, isLocal: $0.1) })
    }

    @Test func countsDistinctLocalAddressesPerServiceAndFamilyOnTheNodesOwnAddresses() {
        let plans = [
            Self.plan("web", port: "http", [("10.244.1.3", true), ("10.244.1.4", true), ("10.244.2.7", false)]),
            Self.plan("web", port: "https", [("10.244.1.3", true), ("10.244.2.7", false)]),
            Self.plan("web", .v6, port: "http", [("fd44::3", true)]),
            Self.plan("api", healthCheck: 32002, [("10.244.2.8", false)]),
            Self.plan("plain", healthCheck: nil, [("10.244.1.9", true)]),
        ]
        let planned = ServiceHealthCheckPlan(
            plans: plans, nodeAddresses: [IPAddress("127.0.0.1")!, Self.v4Node, IPAddress("::1")!, Self.v6Node])
        let web4 = HealthCheckService(namespace: "shop", name: "web", family: .v4)
        let web6 = HealthCheckService(namespace: "shop", name: "web", family: .v6)
        let api4 = HealthCheckService(namespace: "shop", name: "api", family: .v4)
        // A pod serving two ports is one endpoint; endpoints on other nodes are not counted.
        #expect(planned.localEndpoints == [web4: 2, web6: 1, api4: 0])
        // Each family on the node's addresses of that family; never loopback; no socket for a Service without the port.
        #expect(
            planned.listens == [
                HealthCheckListen(service: web4, port: 32001, address: Self.v4Node), HealthCheckListen(service: web6, port: 32001, address: Self.v6Node),
                HealthCheckListen(service: api4, port: 32002, address: Self.v4Node),
            ])
    }

    @Test func theAnswerIsKubeProxys() {
        let up = HealthCheckAnswer(namespace: "shop", name: "web", localEndpoints: 2, proxyHealthy: true)
        #expect(up.ok)
        #expect(
            up.body
                == "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        )
        #expect(
            up.headers.map { "\($0.0): \($0.1)" } == [
                "Content-Type: application/json", "X-Content-Type-Options: nosniff", "X-Load-Balancing-Endpoint-Weight: 2",
            ])
        #expect(!HealthCheckAnswer(namespace: "shop", name: "web", localEndpoints: 0, proxyHealthy: true).ok)
        // Endpoints here but the Services table not written: the node is not fit either.
        let stale = HealthCheckAnswer(namespace: "shop", name: "web", localEndpoints: 2, proxyHealthy: false)
        #expect(!stale.ok && stale.body.contains("\"serviceProxyHealthy\": false"))
        #expect(HealthCheckAnswer.quoted("a\"b\\c\n") == #""a\"b\\c\u000a""#)
    }

    /// curl's status line, the weight header and the body; exit 7 when the connection is refused.
    static func get(inNamespace api: FakeKubeAPI? = nil, _ url: String) throws -> (exit: Int32, status: String, weight: String, body: String) {
        let command = ["/usr/bin/curl", "-s", "-i", "--max-time", "10", url]
        let reply = try run(api?.inNamespace(command) ?? command)
        let parts = reply.stdout.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let status = head.split(separator: "\r\n").first.map { String($0.split(separator: " ").dropFirst().first ?? "") } ?? ""
        let weight =
            head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-load-balancing-endpoint-weight:") }.map {
                String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces)
            } ?? ""
        return (reply.status, status, weight, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func aPortThatCannotBeBoundIsCountedAndTakenOnTheNextUpdate() async throws {
        let metrics = AgentMetrics()
        let servers = ServiceHealthCheckServers(logger: Logger(label: "test"), metrics: metrics, proxyHealthy: { true })
        // Another process holds the port: the servers' bind fails, and nothing else does.
        // A port below the kernel's ephemeral range (32768 and up by default): once the holder lets it go,
        // no outgoing connection of a concurrent test can be given it before the servers bind it. 20,000 to
        // 26,000: PolicyLab's forwarder listens in 26,000 to 32,000, so no concurrent suite listens on it.
        var held: Channel?
        for _ in 0..<20 where held == nil {
            held = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: Int.random(in: 20_000..<26_000)).get()
        }
        let holder = try #require(held)
        let port = try #require(holder.localAddress?.port)
        let web = HealthCheckService(namespace: "shop", name: "web", family: .v4)
        let listen = HealthCheckListen(service: web, port: UInt16(port), address: IPAddress("127.0.0.1")!)
        servers.counts.set([web: 1])
        await servers.reconcile([listen])
        #expect(await servers.listening.isEmpty)
        #expect(metrics.exposition().contains("weftd_services_health_check_bind_errors_total 1"), "\(metrics.exposition())")
        try await holder.close()
        // Taken on a later update (weftd's next apply): under a loaded suite the holder's socket may not be
        // gone from the kernel at the first one.
        for _ in 0..<50 where await servers.listening != [listen] {
            await servers.reconcile([listen])
            if await servers.listening != [listen] { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(await servers.listening == [listen])
        let answered = try Self.get("http://127.0.0.1:\(port)/any/path")
        #expect(answered.status == "200" && answered.weight == "1" && answered.body.contains("\"localEndpoints\": 1"), "\(answered)")
        // The count follows without reopening the socket.
        servers.counts.set([web: 0])
        let none = try Self.get("http://127.0.0.1:\(port)/")
        #expect(none.status == "503" && none.body.contains("\"localEndpoints\": 0"), "\(none)")
        // Gone: refused (the positive control just above, same client and address).
        await servers.closeAll()
        #expect(await servers.listening.isEmpty)
        // The port is below the ephemeral range and other suites' listeners on 127.0.0.1 take theirs from
        // other ranges (PolicyLab's forwarder) or from the kernel (port 0): nothing but these servers answers
        // on it. A refusal is curl's exit 7; anything else is shown whole.
        let gone = try Self.get("http://127.0.0.1:\(port)/")
        #expect(gone.exit == 7, "\(gone)")
        #expect(metrics.exposition().contains("weftd_service_health_check_listeners 0"))
    }
}
