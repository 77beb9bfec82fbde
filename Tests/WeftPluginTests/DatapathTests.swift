import Foundation
import Testing
import WeftTestSupport

/// ADD/DEL against real kernel objects, each test inside its own node namespace.
@Suite(.privileged)
struct DatapathTests {
    @Test func twoPodsOnOneBridgePingEachOther() throws {
        try withNode { node in
            let a = try node.addPod(), b = try node.addPod()
            let resultA = try node.add(containerID: "pod-a", netns: a)
            let resultB = try node.add(containerID: "pod-b", netns: b)
            let addressA = try #require(podAddress(resultA)), addressB = try #require(podAddress(resultB))
            #expect(addressA != addressB)
            #expect(try node.ping(from: a, to: addressB))
            #expect(try node.ping(from: b, to: addressA))
            #expect(try node.ping(from: a, to: "10.244.1.1"), "the gateway on the bridge answers")
            // The bridge keeps the MAC Weft gave it (0a:58 + gateway) as ports join, so pods' ARP entries stay valid.
            #expect(try node.exec("ip", "-o", "link", "show", "cni0").stdout.contains("link/ether 0a:58:0a:f4:01:01"))
        }
    }

    /// kube-proxy's Service path: DNAT on the node with br_netfilter calling iptables hooks for bridged
    /// traffic, and masquerade for hairpin traffic. A pod reaching itself through the VIP is DNATed
    /// back out the bridge port it came in by, which the bridge allows only with hairpin mode.
    @Test(arguments: [true, false])
    func podReachesItselfThroughAServiceVIPOnlyWithHairpin(hairpin: Bool) throws {
        try withNode { node in
            let pod = try node.addPod()
            let result = try node.add(
                containerID: "self", netns: pod,
                config: node.config(delegate: #""hairpinMode":\#(hairpin),"isDefaultGateway":true"#))
            let address = try #require(podAddress(result))
            try installServiceVIP("10.96.0.10", backend: address, on: node)
            #expect(try node.ping(from: pod, to: "10.96.0.10") == hairpin)
            #expect(try node.exec("bridge", "-d", "link", "show").stdout.contains("hairpin \(hairpin ? "on" : "off")"))
        }
    }

    @Test func nodeSysctlsAreSetInTheNodeNamespace() throws {
        try withNode { node in
            let pod = try node.addPod()
            let result = try node.add(containerID: "c1", netns: pod)
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            #expect(try node.exec("sysctl", "-n", "net.ipv4.ip_forward").stdout.hasPrefix("1"))
            #expect(try node.exec("sysctl", "-n", "net.ipv6.conf.cni0.accept_ra").stdout.hasPrefix("0"))
            #expect(try node.exec("sysctl", "-n", "net.ipv6.conf.\(hostVeth).accept_ra").stdout.hasPrefix("0"))
            #expect(try node.exec("ip", "-o", "link", "show", "cni0").stdout.contains("mtu 1450"))
        }
    }

    @Test func delIsRepeatableAndNeedsNoPriorAdd() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod)
            for _ in 0..<2 {
                let del = try node.weft("DEL", containerID: "c1", netns: pod, config: node.config())
                #expect(del.status == 0, "\(del.stdout)")
            }
            #expect(try node.weft("DEL", containerID: "never-added", netns: pod, config: node.config()).status == 0)
            #expect(try node.weft("DEL", containerID: "never-added", config: node.config()).status == 0, "DEL without CNI_NETNS")
            #expect(node.reservations().isEmpty)
            #expect(try node.links() == ["lo", "cni0"])
            #expect(try node.execIn(pod, "ip", "-o", "link").stdout.split(separator: "\n").count == 1, "only lo is left in the pod")
        }
    }

    @Test func delAfterTheNetnsIsGoneReleasesTheAddress() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod)
            #expect(node.reservations() == ["c1:eth0"])
            try node.deletePod(pod)
            let del = try node.weft("DEL", containerID: "c1", netns: pod, config: node.config())
            #expect(del.status == 0, "\(del.stdout)")
            #expect(node.reservations().isEmpty)
            #expect(try node.links() == ["lo", "cni0"])
        }
    }

    @Test func delWorksWhenTheSubnetFileIsGone() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod)
            try FileManager.default.removeItem(atPath: node.subnetFile)
            #expect(try node.weft("DEL", containerID: "c1", netns: pod, config: node.config()).status == 0)
            #expect(node.reservations().isEmpty)
        }
    }

    @Test func twentyParallelAddsGetTwentyAddressesAndOneBridge() throws {
        try withNode { node in
            let pods = try (0..<20).map { _ in try node.addPod() }
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: pods.count) { index in
                outcomes.record(index, Result { try node.add(containerID: "par-\(index)", netns: pods[index]) })
            }
            let addresses = try outcomes.all.map { try #require(podAddress(try $0.get())) }
            #expect(Set(addresses).count == 20)
            let links = try node.links()
            #expect(links.filter { $0 == "cni0" }.count == 1)
            #expect(links.filter { $0.hasPrefix("veth") }.count == 20)
            #expect(
                try node.exec("ip", "-o", "addr", "show", "dev", "cni0").stdout.components(separatedBy: "10.244.1.1/24").count == 2,
                "the gateway address is on the bridge once")
        }
    }

    @Test func ipv6DualStackPodsPingEachOther() throws {
        let env =
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
        try withNode(subnetEnv: env) { node in
            let a = try node.addPod(), b = try node.addPod()
            let resultA = try node.add(containerID: "a", netns: a, config: node.config(version: "1.0.0"))
            _ = try node.add(containerID: "b", netns: b, config: node.config(version: "1.0.0"))
            let ips = try #require(resultA["ips"] as? [[String: Any]])
            #expect(ips.compactMap { $0["address"] as? String } == ["10.244.1.2/24", "fd00:10:244:1::2/64"])
            // No DAD: the address is usable the moment ADD returns, not "tentative" for a second.
            #expect(!(try node.execIn(a, "ip", "-6", "addr", "show", "dev", "eth0").stdout.contains("tentative")))
            #expect(try node.execIn(b, "ping", "-6", "-c", "1", "-W", "2", "fd00:10:244:1::2").status == 0)
            #expect(try node.execIn(a, "ip", "-6", "route", "show").stdout.contains("fd00:10:244::/56 via fd00:10:244:1::1"))
        }
    }
}

/// kube-proxy-style Service: DNAT the VIP to the backend, masquerade a pod talking to itself, br_netfilter on.
func installServiceVIP(_ vip: String, backend: String, on node: TestNode) throws {
    let rules = """
        table ip kubeproxy {
          chain prerouting { type nat hook prerouting priority dstnat; ip daddr \(vip) dnat to \(backend); }
          chain postrouting { type nat hook postrouting priority srcnat; ip saddr \(backend) ip daddr \(backend) masquerade; }
        }
        """
    let loaded = try runProgram("/usr/sbin/ip", ["netns", "exec", node.name, "nft", "-f", "-"], input: rules)
    guard loaded.status == 0 else { throw TestFailure("nft: \(loaded.stderr)") }
    let sysctl = try node.exec("sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
    guard sysctl.status == 0 else { throw TestFailure("br_netfilter: \(sysctl.stderr)") }
}

final class Outcomes: @unchecked Sendable {  // `results` behind `lock`
    private let lock = NSLock()
    private var results: [Int: Result<[String: Any], Error>] = [:]
    func record(_ index: Int, _ result: Result<[String: Any], Error>) { lock.lock(); results[index] = result; lock.unlock() }
    var all: [Result<[String: Any], Error>] { lock.lock(); defer { lock.unlock() }; return results.keys.sorted().compactMap { results[$0] } }
}

@Suite(.privileged)
struct StaleReclaimTests {
    /// A pod whose namespace was deleted without DEL holds its address only until the range runs out.
    @Test func aFullSubnetReclaimsTheAddressOfAPodDeletedWithoutDel() throws {
        try withNode(subnetEnv: "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/29\nFLANNEL_IPMASQ=true\n") { node in
            var pods: [String] = []
            for index in 0..<5 {
                let pod = try node.addPod()
                pods.append(pod)
                _ = try node.add(containerID: "p\(index)", netns: pod)
            }
            let sixth = try node.addPod()
            let full = try node.weft("ADD", containerID: "p5", netns: sixth, config: node.config())
            #expect(full.json?["code"] as? Int == 11)
            #expect((full.json?["msg"] as? String) == "no IP addresses available in range set: 10.244.1.0/29")

            try node.deletePod(pods[2])
            let result = try node.add(containerID: "p5", netns: sixth)
            #expect(podAddress(result) == "10.244.1.4")
            #expect(try node.ping(from: sixth, to: "10.244.1.2"))
        }
    }
}
