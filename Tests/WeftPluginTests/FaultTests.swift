import Foundation
import Testing
import WeftTestSupport

/// The faults of Tests/CHECKLIST.md (items 18–33): kills, concurrency, races, held locks, unwritable stores, kube-proxy precedence.
@Suite(.privileged)
struct FaultTests {
    /// Item 18: kill -9 at each step of ADD (debug build), then DEL, then a fresh ADD: nothing leaks.
    @Test(arguments: ["add-after-reserve", "add-after-veth", "add-after-pod", "add-after-firewall"])
    func killNineDuringAddThenDelLeavesNothing(step: String) throws {
        try withNode { node in
            let weft = TestNode.debugBinary("weft")
            let pod = try node.addPod()
            let config = node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#)
            func run(_ command: String, _ extra: [String: String] = [:]) throws -> ProgramResult {
                var environment = [
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": "victim",
                    "CNI_NETNS": pod, "CNI_IFNAME": "eth0",
                ]
                environment.merge(extra) { $1 }
                return try runProgram("/usr/bin/nsenter", ["--net=\(node.namespacePath)", weft], input: config, environment: environment)
            }
            let killed = try run("ADD", ["WEFT_TEST_KILL_AT": step])
            #expect(killed.signal == SIGKILL, "killed at \(step): \(killed.stdout)")
            #expect(try run("DEL").status == 0)
            #expect(node.reservations().isEmpty, "no address left after DEL")
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty, "no veth left after DEL")
            #expect(!(try node.exec("nft", "list", "ruleset").stdout.contains("weft/cbr0/victim")), "no hostPort left after DEL")
            let again = try run("ADD")
            #expect(again.status == 0, "\(again.stdout)")
        }
    }

    /// Item 23: 100 ADDs and then 100 DELs in separate processes against one bridge and store.
    @Test func hundredConcurrentAddsAndDels() throws {
        try withNode(subnetEnv: "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.0.1/22\nFLANNEL_IPMASQ=true\n") { node in
            let pods = try (0..<100).map { _ in try node.addPod() }
            let added = Outcomes()
            DispatchQueue.concurrentPerform(iterations: pods.count) { index in
                added.record(index, Result { try node.add(containerID: "c\(index)", netns: pods[index]) })
            }
            let addresses = try added.all.map { try #require(podAddress(try $0.get())) }
            #expect(Set(addresses).count == 100)
            #expect(try node.links().filter { $0 == "cni0" }.count == 1)
            let deleted = Outcomes()
            DispatchQueue.concurrentPerform(iterations: pods.count) { index in
                deleted.record(
                    index,
                    Result {
                        let result = try node.weft("DEL", containerID: "c\(index)", netns: pods[index], config: node.config())
                        guard result.status == 0 else { throw TestFailure(result.stdout) }
                        return [:]
                    })
            }
            for outcome in deleted.all { _ = try outcome.get() }
            #expect(node.reservations().isEmpty)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
        }
    }

    /// Item 27: a stale DEL for the pod's old sandbox racing the ADD of its new sandbox: the new one survives.
    @Test func staleDelRacingTheReplacementsAdd() throws {
        try withNode { node in
            let old = try node.addPod(), new = try node.addPod()
            _ = try node.add(containerID: "sandbox-old", netns: old)
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                outcomes.record(
                    index,
                    Result {
                        if index == 0 { return try node.add(containerID: "sandbox-new", netns: new) }
                        let del = try node.weft("DEL", containerID: "sandbox-old", netns: old, config: node.config())
                        guard del.status == 0 else { throw TestFailure(del.stdout) }
                        return [:]
                    })
            }
            for outcome in outcomes.all { _ = try outcome.get() }
            #expect(node.reservations() == ["sandbox-new:eth0"])
            #expect(try node.ping(from: new, to: "10.244.1.1"))
        }
    }

    /// Item 28: a lock held by a stopped process: a bounded wait, then "try again later" (code 11).
    @Test func lockHeldByAStoppedProcessYieldsTryAgainLater() throws {
        try withNode { node in
            _ = try node.add(containerID: "first", netns: try node.addPod())
            let null = open("/dev/null", O_RDWR)
            defer { close(null) }
            // One process holding the flock (the shell execs into sleep with the locked descriptor), so killing it frees all.
            let holder = try spawnProgram(
                "/bin/sh", ["-c", "exec 9>\(node.dataDir)/cbr0/lock; flock 9; exec sleep 60"], environment: nil,
                stdin: null, stdout: null, stderr: null)
            node.servers.append(holder)
            // Until the holder has the lock (a loaded machine may take longer than any fixed sleep):
            // a non-blocking flock of our own fails while it is held.
            for _ in 0..<100 where try runProgram("/usr/bin/flock", ["-n", "\(node.dataDir)/cbr0/lock", "true"]).status == 0 {
                usleep(50_000)
            }
            kill(holder, SIGSTOP)
            let started = Date()
            let result = try runProgram(
                "/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.debugBinary("weft")],
                input: node.config(),
                environment: [
                    "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "second", "CNI_NETNS": try node.addPod(),
                    "CNI_IFNAME": "eth0", "WEFT_TEST_LOCK_TIMEOUT": "0.5",
                ])
            #expect(result.json?["code"] as? Int == 11, "\(result.stdout)")
            #expect((result.json?["msg"] as? String)?.contains("lock") == true)
            #expect(Date().timeIntervalSince(started) < 10, "the wait is bounded")
            kill(holder, SIGKILL)
        }
    }

    /// Item 22: a read-only store: ADD fails with an I/O error and changes nothing.
    @Test func readOnlyStoreFailsAddCleanly() throws {
        try withNode { node in
            let pod = try node.addPod()
            let store = "\(node.directory)/ro-store"
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let config = node.config().replacingOccurrences(of: node.dataDir, with: store)
            let script = """
                mount -t tmpfs -o ro weft-ro \(store)
                printf '%s' '\(config)' | CNI_COMMAND=ADD CNI_CONTAINERID=ro CNI_NETNS=\(pod) CNI_IFNAME=eth0 \
                  nsenter --net=\(node.namespacePath) \(TestNode.binary("weft"))
                echo " rc=$?"
                """
            let result = try runProgram(
                "/usr/bin/unshare", ["--mount", "--propagation", "private", "sh", "-c", script],
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
            #expect(result.stdout.contains(#""code" : 5"#), "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("Read-only file system"), "\(result.stdout)")
            // The bridge may have been created (it is shared by every pod and kept); no pod link is.
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
            #expect(try node.execIn(pod, "ip", "-o", "link").stdout.split(separator: "\n").count == 1)
        }
    }

    /// Item 33: a NodePort-style kube-proxy DNAT (dstnat, -100) on the same port as a hostPort wins.
    @Test func kubeProxyRulesTakePrecedenceOverHostPorts() throws {
        try withNode { node in
            let outside = try node.addOutside()
            let hostPortPod = try node.addPod(), servicePod = try node.addPod()
            _ = try node.add(containerID: "hp", netns: hostPortPod, config: node.firewallConfig(mappings: #"{"hostPort":30080,"containerPort":80}"#))
            let backend = try #require(podAddress(try node.add(containerID: "svc", netns: servicePod)))
            try node.serve(in: hostPortPod, port: 80, reply: "hostport")
            try node.serve(in: servicePod, port: 80, reply: "service")
            #expect(try node.request(from: outside, to: TestNode.nodeAddress, port: 30080).hasPrefix("hostport"))
            let rules = """
                table ip kubeproxy {
                  chain prerouting { type nat hook prerouting priority dstnat; tcp dport 30080 fib daddr type local dnat to \(backend):80; }
                }
                """
            let loaded = try runProgram("/usr/sbin/ip", ["netns", "exec", node.name, "nft", "-f", "-"], input: rules)
            #expect(loaded.status == 0, "\(loaded.stderr)")
            #expect(try node.request(from: outside, to: TestNode.nodeAddress, port: 30080).hasPrefix("service"))
        }
    }

    /// Item 29: GC with the attachment list missing is refused instead of releasing everything.
    @Test func gcWithoutTheListIsRefused() throws {
        try withNode { node in
            _ = try node.add(containerID: "keep", netns: try node.addPod())
            let gc = try node.weft("GC", ifname: "", config: node.config(version: "1.1.0"))
            #expect(gc.json?["code"] as? Int == 7)
            #expect(node.reservations() == ["keep:eth0"])
            // Item 5: GC below spec 1.1.0 is an incompatible version.
            let old = try node.weft("GC", ifname: "", config: node.config(version: "1.0.0").dropLast() + #","cni.dev/valid-attachments":[]}"#)
            #expect(old.json?["code"] as? Int == 1)
            #expect(node.reservations() == ["keep:eth0"])
        }
    }
}

@Suite(.privileged)
struct WipedStoreTests {
    /// Item 20: the store wiped while pods run (a tmpfs remounted): the next ADD rebuilds it from the host
    /// veths' aliases and never hands out a live pod's address; the old pods' DEL still releases theirs.
    @Test func aWipedStoreIsRebuiltFromTheNodeBeforeAllocating() throws {
        try withNode { node in
            let a = try node.addPod(), b = try node.addPod(), c = try node.addPod()
            let addressA = try #require(podAddress(try node.add(containerID: "a", netns: a)))
            let addressB = try #require(podAddress(try node.add(containerID: "b", netns: b)))
            try FileManager.default.removeItem(atPath: node.dataDir)
            let addressC = try #require(podAddress(try node.add(containerID: "c", netns: c)))
            #expect(![addressA, addressB].contains(addressC))
            #expect(node.reservations() == ["a:eth0", "b:eth0", "c:eth0"])
            #expect(try node.ping(from: c, to: addressA))
            #expect(try node.weft("DEL", containerID: "a", netns: a, config: node.config()).status == 0)
            #expect(node.reservations() == ["b:eth0", "c:eth0"])
        }
    }
}

@Suite(.privileged)
struct HostilePodTests {
    /// A router advertisement (default route, prefix fd99::/64) sent from inside a pod.
    static let sendRouterAdvertisement = """
        import socket, struct
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
        prefix = struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, "fd99::")
        for _ in range(3):
            s.sendto(ra + prefix, ("ff02::1", 0, 0, socket.if_nametoindex("eth0")))
        """

    /// Item 35: the bridge and host veths have accept_ra=0, so a pod's router advertisement changes no
    /// route on the node; the same RA with accept_ra=2 on the bridge (the control) does.
    @Test func aPodsRouterAdvertisementChangesNoNodeRoute() throws {
        let env =
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_IPMASQ=true\n"
        try withNode(subnetEnv: env) { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "hostile", netns: pod, config: node.config(version: "1.0.0"))
            func advertise() throws {
                let sent = try runProgram(
                    "/usr/sbin/ip",
                    [
                        "netns", "exec", URL(fileURLWithPath: pod).lastPathComponent,
                        "python3", "-c", Self.sendRouterAdvertisement,
                    ])
                #expect(sent.status == 0, "\(sent.stderr)")
                usleep(300_000)
            }
            try advertise()
            let routes = try node.exec("ip", "-6", "route", "show").stdout
            #expect(!routes.contains("default"), "\(routes)")
            #expect(!routes.contains("fd99::"), "\(routes)")

            try node.exec("sysctl", "-w", "net.ipv6.conf.cni0.accept_ra=2")
            try advertise()
            #expect(try node.exec("ip", "-6", "route", "show").stdout.contains("default"), "the control: an accepting bridge takes the route")
        }
    }
}

@Suite(.privileged)
struct RebootTests {
    /// Item 31: the store is empty (a tmpfs after reboot) while the bridge and the nft table of the old
    /// pods remain: DEL for the old IDs succeeds and removes their hostPorts, and new pods are wired.
    @Test func staleBridgeAndTableWithAnEmptyStore() throws {
        try withNode { node in
            let old = try node.addPod()
            _ = try node.add(containerID: "before-reboot", netns: old, config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#))
            try node.deletePod(old)
            try FileManager.default.removeItem(atPath: node.dataDir)
            #expect(try node.weft("DEL", containerID: "before-reboot", netns: old, config: node.firewallConfig()).status == 0)
            #expect(!(try node.exec("nft", "list", "ruleset").stdout.contains("before-reboot")))
            let fresh = try node.addPod()
            _ = try node.add(containerID: "after-reboot", netns: fresh, config: node.firewallConfig(mappings: #"{"hostPort":8080,"containerPort":80}"#))
            #expect(try node.ping(from: fresh, to: "10.244.1.1"))
        }
    }
}

@Suite(.privileged)
struct GCConcurrencyTests {
    /// Item 29: GC running while listed attachments are being added: they survive, the unlisted go,
    /// and the store stays consistent (GC and ADD serialise on the store's lock).
    @Test func gcConcurrentWithAdds() throws {
        try withNode { node in
            for index in 0..<5 { _ = try node.add(containerID: "stale\(index)", netns: try node.addPod()) }
            let pods = try (0..<10).map { _ in try node.addPod() }
            let listed = (0..<10).map { #"{"containerID":"new\#($0)","ifname":"eth0"}"# }.joined(separator: ",")
            let gcConfig = node.config(version: "1.1.0").dropLast() + #","cni.dev/valid-attachments":[\#(listed)]}"#
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: pods.count + 1) { index in
                outcomes.record(
                    index,
                    Result {
                        if index == pods.count {
                            let gc = try node.weft("GC", ifname: "", config: String(gcConfig))
                            guard gc.status == 0 else { throw TestFailure(gc.stdout) }
                            return [:]
                        }
                        return try node.add(containerID: "new\(index)", netns: pods[index], config: node.config(version: "1.1.0"))
                    })
            }
            for outcome in outcomes.all { _ = try outcome.get() }
            #expect(node.reservations() == (0..<10).map { "new\($0):eth0" }.sorted())
            #expect(try node.links().filter { $0.hasPrefix("veth") }.count == 10)
        }
    }
}
