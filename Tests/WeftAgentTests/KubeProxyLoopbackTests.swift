import Foundation
import Testing
import WeftTestSupport

/// The loopback guard (CVE-2020-8558 class) beside Kubernetes' own kube-proxy in iptables mode, as a
/// node runs it: kube-proxy sets route_localnet on every interface of its namespace (for NodePorts on
/// 127.0.0.1) and listens on 127.0.0.1:10249 (its metrics) for the node alone. Everything runs in the
/// lab's node namespace, kube-proxy against the lab's real kube-apiserver; its conntrack settings, the
/// only host-wide ones it writes, are left alone (0).
@Suite(.serialized, .privileged)
struct KubeProxyLoopbackTests {
    /// A pod's hand-made SYN to kube-proxy's loopback-only metrics port is dropped by Weft's
    /// `localnet-input` chain (the drop counter rises); the control, the same SYN to kube-proxy's
    /// healthz port on the node's bridge address, is answered. Both with a hostPort (Weft itself turns
    /// route_localnet on for 127.0.0.1:hostPort) and on a network with neither hostPorts nor ipMasq
    /// (kube-proxy's route_localnet on `all` alone opens the node's loopback, and Weft's table, with its
    /// guard, is installed by every ADD all the same).
    @Test(arguments: [true, false]) func aPodReachesNoLoopbackListenerOfARealKubeProxy(hostPort: Bool) throws {
        let lab = try PolicyLab()
        defer { lab.cleanup() }
        try lab.start(
            "kube-proxy",
            [
                "\(lab.kubeBin)/kube-proxy", "--kubeconfig", "\(lab.directory)/kubeconfig", "--proxy-mode", "iptables",
                "--hostname-override", "n1", "--cluster-cidr", "10.62.0.0/24", "--metrics-bind-address", "127.0.0.1:10249",
                "--healthz-bind-address", "0.0.0.0:10256", "--oom-score-adj", "0", "--conntrack-max-per-core", "0",
                "--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0", "--v", "2",
            ])
        let ready = waitUntil(timeout: 120) {
            (try? lab.inNode(["/usr/sbin/sysctl", "-n", "net.ipv4.conf.all.route_localnet"]).stdout.hasPrefix("1")) == true
                && (try? lab.inNode(["/usr/bin/ss", "-ltn"]).stdout).map { $0.contains("127.0.0.1:10249") && $0.contains(":10256") } == true
                && (try? lab.inNode(["/usr/sbin/iptables", "-t", "nat", "-S", "KUBE-SERVICES"]).status) == 0
        }
        #expect(ready != nil, "kube-proxy did not set route_localnet, listen and write its chains: \(lab.log("kube-proxy").suffix(3000))")

        let config =
            #"{"cniVersion":"1.0.0","name":"kp","type":"weft","subnet":"10.62.0.0/24","dataDir":"\#(lab.directory)/ipam","#
            + #""delegate":{"hairpinMode":true,"isDefaultGateway":true,"ipMasq":false}"#
            + (hostPort ? #","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}}"# : "}")
        let address = try lab.add("web", config: config)
        let bridge = "cni0"
        // `ip netns exec` mounts the namespace's own /sys (nsenter alone would show the host's links).
        let gateway = try run(["/usr/sbin/ip", "netns", "exec", lab.node, "cat", "/sys/class/net/\(bridge)/address"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(gateway.split(separator: ":").count == 6, "no MAC for \(bridge): \(gateway)")
        if hostPort {
            #expect(try lab.inNode(["/usr/sbin/sysctl", "-n", "net.ipv4.conf.\(bridge).route_localnet"]).stdout.hasPrefix("1"))
        }

        func synAnswered(_ destination: String, _ port: Int) throws -> Bool {
            try RawSYN.answered(
                in: TestNamespace.path("wt-\(lab.id)-pweb"), source: address, destination: destination, port: port, gatewayMAC: gateway)
        }
        let debug = { () -> String in
            let node = (try? lab.inNode(["/usr/sbin/ip", "-br", "addr"]).stdout) ?? ""
            let rules = (try? lab.inNode(["/usr/sbin/iptables-save"]).stdout) ?? ""
            let nft = (try? lab.inNode(["/usr/sbin/nft", "list", "ruleset"]).stdout) ?? ""
            let ss = (try? lab.inNode(["/usr/bin/ss", "-ltn"]).stdout) ?? ""
            return "addr \(address) gw \(gateway)\n\(node)\n\(ss)\n\(rules)\n\(nft.prefix(6000))"
        }
        #expect(try synAnswered("10.62.0.1", 10256), "the control: a raw SYN to kube-proxy's healthz on the node's address is answered\n\(debug())")
        #expect(try !synAnswered("127.0.0.1", 10249), "a raw SYN to kube-proxy's loopback-only metrics is not")
        let chain = try lab.inNode(["/usr/sbin/nft", "list", "chain", "inet", "weft", "localnet-input"]).stdout
        #expect(chain.range(of: "counter packets [1-9][0-9]* ", options: .regularExpression) != nil, "the drop counted: \(chain)")
    }
}
