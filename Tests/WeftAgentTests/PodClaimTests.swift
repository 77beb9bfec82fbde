import Foundation
import Logging
import Testing
import WeftAddress
import WeftNetlink
import WeftTestSupport
@testable import WeftAgent
@testable import WeftPolicy

/// The addresses ADDs announce (claims), against restarts, IP reuse, retries and stale DELs. The agent
/// runs in a throwaway network namespace where it writes its table; events are handed to it as the
/// watches would deliver them.
@Suite(.serialized, .privileged)
struct PodClaimTests {
    static var namespace: [String: Any] { ["metadata": ["name": "prod"]] }
    static var denyAll: [String: Any] { ["metadata": ["name": "deny-all", "namespace": "prod"], "spec": ["podSelector": [String: Any]()]] }

    static func pod(_ name: String, uid: String, node: String = "n1", address: String? = nil) -> [String: Any] {
        var object: [String: Any] = [
            "metadata": ["name": name, "namespace": "prod", "uid": uid],
            "spec": ["nodeName": node, "containers": [["name": "c"]]],
        ]
        if let address { object["status"] = ["phase": "Running", "podIPs": [["ip": address]]] }
        return object
    }

    /// Everything listed, then the table written.
    func sync(_ agent: PolicyAgent, pods: sending [[String: Any]]) async {
        await agent.received(.namespaces, listed: [Self.namespace])
        await agent.received(.policies, listed: [Self.denyAll])
        await agent.received(.pods, listed: pods)
        await agent.apply()
    }

    func isolated(_ agent: PolicyAgent, _ address: String) async -> Bool {
        guard let address = IPAddress(address) else { return false }
        return await agent.compiled.verdicts[.ingress]?[address] != nil
    }

    /// weftd missed a pod's DEL and deletion (it was down); a later pod got the address. The old claim,
    /// read back from the file, stripped the new pod's address: every verdict gone, the pod open.
    @Test func aClaimThatOutlivedItsPodNeverOpensTheNextOne() async throws {
        try await withAgentLab { lab in
            try #"{"prod/gone":["10.9.0.5"]}"#.write(toFile: lab.claimsFile, atomically: true, encoding: .utf8)  // an earlier version's file
            let agent = try lab.agent(syncWait: 60)
            #expect(await agent.claims["prod/gone"]?.addresses == [IPAddress("10.9.0.5")!], "the earlier format is read")
            await sync(agent, pods: [Self.pod("next", uid: "u2", address: "10.9.0.5")])
            #expect(await agent.claims.isEmpty, "the first list of pods prunes the claim of a pod the API lacks")
            #expect(await isolated(agent, "10.9.0.5"), "the new pod keeps its address and the deny-all policy's verdict")
            let saved = try String(contentsOfFile: lab.claimsFile, encoding: .utf8)
            #expect(saved == #"{"claims":{},"version":2}"#, "\(saved)")
        }
    }

    /// Even between lists: a claim never takes an address the API reports for a live pod of this node.
    @Test func aClaimNeverStripsALivePodOfThisNode() async throws {
        try await withAgentLab { lab in
            let agent = try lab.agent(syncWait: 60)
            await sync(agent, pods: [Self.pod("web", uid: "u1"), Self.pod("other", uid: "u3")])
            let attached = await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.7"], sandbox: "s1"))
            #expect(attached.ok, "\(attached.error ?? "")")
            #expect(await isolated(agent, "10.9.0.7"), "the control: the claim stands for web")
            // web's sandbox went without a DEL weftd saw; other now reports the address.
            await agent.received(.pods, .upserted(Self.pod("other", uid: "u3", address: "10.9.0.7")))
            await agent.apply()
            #expect(await agent.claims["prod/web"] == nil, "the stale claim went")
            let pods = await agent.effectivePods()
            #expect(pods.first { $0.name == "other" }?.addresses == [IPAddress("10.9.0.7")!])
            // And an attach claiming a live pod's address is refused (the plugin isolates or refuses that pod).
            let refused = await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.7"], sandbox: "s2"))
            #expect(!refused.ok && refused.error?.contains("live pod prod/other") == true, "\(refused.error ?? "")")
        }
    }

    /// A retried ADD (new sandbox) and the first one, still waiting, committing last: the newer claim stays.
    @Test func anOlderAttachNeverOverwritesANewerOne() async throws {
        try await withAgentLab { lab in
            let agent = try lab.agent(syncWait: 60)
            // Not synced yet: both attaches wait, the first one polling 10 ms ahead of the second.
            let first = Task { await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.2"], sandbox: "s1")) }
            try await Task.sleep(nanoseconds: 10_000_000)
            let second = Task { await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.3"], sandbox: "s2")) }
            try await Task.sleep(nanoseconds: 15_000_000)
            await sync(agent, pods: [Self.pod("web", uid: "u1")])
            let (older, newer) = (await first.value, await second.value)
            #expect(newer.ok, "\(newer.error ?? "")")
            let claim = try #require(await agent.claims["prod/web"])
            #expect(claim.sandbox == "s2" && claim.addresses == [IPAddress("10.9.0.3")!], "\(claim) (older: \(older))")
        }
    }

    /// The plugin gave up waiting (and isolated or refused the pod): the attach is undone; a stale DEL of
    /// an earlier sandbox never takes the current sandbox's claim.
    @Test func abandonedAttachesAndStaleReleasesLeaveTheRightClaim() async throws {
        try await withAgentLab { lab in
            let agent = try lab.agent(syncWait: 60)
            await sync(agent, pods: [Self.pod("web", uid: "u1")])
            let request = PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.2"], sandbox: "s1")
            #expect(await agent.attach(request).ok)
            await agent.abandon(request)
            #expect(await agent.claims["prod/web"] == nil, "the abandoned attach is undone")
            #expect(await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.2"], sandbox: "s2")).ok)
            _ = await agent.release(PolicyRequest(op: .release, addresses: ["10.9.0.2"], sandbox: "s1"))
            #expect(await agent.claims["prod/web"]?.sandbox == "s2", "s1's late DEL leaves s2's claim")
            _ = await agent.release(PolicyRequest(op: .release, addresses: ["10.9.0.2"], sandbox: "s2"))
            #expect(await agent.claims["prod/web"] == nil, "the control: s2's own DEL releases it")
        }
    }

    /// weftd is n1's: a pod scheduled elsewhere (a wrong --node-name, a stale ADD) is refused.
    @Test func anAttachForAnotherNodesPodIsRefused() async throws {
        try await withAgentLab { lab in
            let agent = try lab.agent(syncWait: 60)
            await sync(agent, pods: [Self.pod("web", uid: "u1"), Self.pod("far", uid: "u2", node: "n2")])
            #expect(
                await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.2"], sandbox: "s1")).ok,
                "the control: this node's pod")
            let refused = await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "far", addresses: ["10.9.0.3"], sandbox: "s2"))
            #expect(!refused.ok && refused.error?.contains("scheduled to node n2") == true, "\(refused.error ?? "")")
            let recreated = await agent.attach(PolicyRequest(op: .attach, namespace: "prod", name: "web", addresses: ["10.9.0.4"], sandbox: "s3", uid: "u0"))
            #expect(!recreated.ok && recreated.error?.contains("another pod now") == true, "an ADD for an earlier pod of the name")
        }
    }

    /// The policy socket's directory is made 0700 whatever made it; the socket holds up whatever a client does: bytes after the request line are dropped unread
    /// (the reply still comes), a client that sends nothing is answered and closed after 5 s, and
    /// connections past 64 at once are closed at once.
    @Test func thePolicySocketIsBoundedWhateverAClientDoes() async throws {
        try await withAgentLab { lab in
            let agent = try lab.agent(syncWait: 60)
            await sync(agent, pods: [Self.pod("web", uid: "u1")])
            let socket = "\(lab.directory)/run/policy.sock"
            // As kubelet's hostPath DirectoryOrCreate leaves it: 0755.
            try FileManager.default.createDirectory(
                atPath: "\(lab.directory)/run", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
            let server = try await PolicySocketServer.start(path: socket, agent: agent)
            let mode = try FileManager.default.attributesOfItem(atPath: "\(lab.directory)/run")[.posixPermissions] as? Int
            #expect(mode == 0o700, "the socket's directory is root's alone whoever made it")
            let script = """
                set -u
                d=\(lab.directory)
                timeout 20 /usr/bin/python3 -c '
                import socket, sys
                s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
                s.sendall(b"{\\"op\\":\\"explain\\",\\"namespace\\":\\"prod\\",\\"name\\":\\"web\\"}\\n")
                try:
                    for _ in range(64): s.sendall(bytes(65536))  # 4 MiB more: dropped unread, or refused once answered
                except OSError:
                    pass
                reply = b""
                while True:
                    try:
                        chunk = s.recv(65536)
                    except OSError:  # ECONNRESET: the server closed with junk still unread, after its reply
                        break
                    if not chunk: break
                    reply += chunk
                sys.stdout.write(reply.decode())
                ' \(socket) > $d/junk.out 2>&1
                for i in $(seq 70); do (sleep 8 | timeout 20 socat -t 1 - UNIX-CONNECT:\(socket) > $d/idle.$i 2>/dev/null) & done
                wait
                echo "junk: $(head -c 200 $d/junk.out)"
                echo "answered: $(grep -l 'no request within the deadline' $d/idle.* | wc -l)"
                echo "closed at once: $(find $d -name 'idle.*' -empty | wc -l)"
                """
            let result = try run(["/bin/sh", "-c", script])
            await server.close()
            #expect(
                result.stdout.contains(#"junk: {"ok":true"#) && result.stdout.contains("web (no address yet)"),
                "the control: a request line is answered\n\(result.stdout)")
            #expect(result.stdout.contains("answered: 64"), "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains("closed at once: 6"), "\(result.stdout)")
        }
    }
}
