import Foundation
import Testing
import WeftTestSupport

/// The binary driven by libcni, the library inside containerd, CRI-O and podman, through cnitool.
@Suite(.privileged)
struct CnitoolTests {
    static var cnitool: String? {
        let path = ProcessInfo.processInfo.environment["CNITOOL"] ?? ".build/tools/cnitool"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// cnitool `verb` in `node`. `hiding` directories are covered by an empty tmpfs in a private mount
    /// namespace first (the host's own files there stay as they are and unseen).
    func cnitool(
        _ verb: String, node: TestNode, pod: String, confDir: String, capabilityArgs: String? = nil,
        hiding: [String] = []
    ) throws -> ProgramResult {
        guard let tool = Self.cnitool else {
            throw TestFailure("cnitool not built: run `make cnitool` or set CNITOOL (make test does both)")
        }
        let pluginDir = URL(fileURLWithPath: TestNode.weftBinary).deletingLastPathComponent().path
        let environment = [
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETCONFPATH": confDir,
            "CNI_PATH": "\(pluginDir):/usr/lib/cni", "CNI_CACHEDIR": "\(node.directory)/cache",
            "CNI_CONTAINERID": "cnitool-\(URL(fileURLWithPath: pod).lastPathComponent)",
        ]
        .merging(capabilityArgs.map { ["CAP_ARGS": $0] } ?? [:]) { $1 }
        let command = ["/usr/bin/nsenter", "--net=\(node.namespacePath)", tool, verb, "cbr0", pod]
        guard !hiding.isEmpty else { return try runProgram(command[0], Array(command.dropFirst()), environment: environment) }
        let covers = hiding.map { "{ [ ! -d \($0) ] || mount -t tmpfs -o size=1m weft-test-hide \($0); } && [ -z \"$(ls -A \($0) 2>/dev/null)\" ] || exit 99" }
        let script = (covers + ["exec \"$@\""]).joined(separator: "\n")
        return try runProgram(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh"] + command,
            environment: environment)
    }

    /// kube-flannel's conflist with `type` changed to weft, plus this node's subnet file and store.
    func writeConflist(version: String, node: TestNode) throws -> String {
        let confDir = "\(node.directory)/net.d"
        try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
        let conflist = """
            {"name":"cbr0","cniVersion":"\(version)","plugins":[{"type":"weft","subnetFile":"\(node.subnetFile)","dataDir":"\(node.dataDir)",
             "delegate":{"hairpinMode":true,"isDefaultGateway":true}}]}
            """
        try conflist.write(toFile: "\(confDir)/10-weft.conflist", atomically: true, encoding: .utf8)
        return confDir
    }

    @Test(arguments: ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
    func addCheckDelThroughLibcni(version: String) throws {
        try withNode { node in
            let confDir = try writeConflist(version: version, node: node)
            let a = try node.addPod(), b = try node.addPod()
            let addA = try cnitool("add", node: node, pod: a, confDir: confDir)
            #expect(addA.status == 0, "\(addA.stdout) \(addA.stderr)")
            let result = try #require(addA.json)
            #expect(result["cniVersion"] as? String == version)
            let addB = try cnitool("add", node: node, pod: b, confDir: confDir)
            #expect(addB.status == 0, "\(addB.stderr)")
            #expect(try node.ping(from: b, to: try #require(podAddress(result))))

            if version >= "0.4.0" {
                // libcni passes its cached result back as prevResult.
                let check = try cnitool("check", node: node, pod: a, confDir: confDir)
                #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
                try node.execIn(a, "ip", "route", "del", "default")
                let failed = try cnitool("check", node: node, pod: a, confDir: confDir)
                #expect(failed.status != 0)
                #expect(failed.stderr.contains("route 0.0.0.0/0 via 10.244.1.1 is missing"), "\(failed.stderr)")
            }
            for pod in [a, b] {
                let del = try cnitool("del", node: node, pod: pod, confDir: confDir)
                #expect(del.status == 0, "\(del.stderr)")
            }
            #expect(node.reservations().isEmpty)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
        }
    }

    /// An operator's existing flannel conflist chains the reference portmap after the main plugin;
    /// with weft in flannel's place it keeps working (Weft's own hostPorts are the recommended path).
    @Test func referencePortmapChainedAfterWeft() throws {
        try withNode { node in
            let confDir = "\(node.directory)/net.d"
            try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
            let conflist = """
                {"name":"cbr0","cniVersion":"0.3.1","plugins":[
                  {"type":"weft","subnetFile":"\(node.subnetFile)","dataDir":"\(node.dataDir)","delegate":{"hairpinMode":true,"isDefaultGateway":true}},
                  {"type":"portmap","capabilities":{"portMappings":true}}]}
                """
            try conflist.write(toFile: "\(confDir)/10-weft.conflist", atomically: true, encoding: .utf8)
            let outside = try node.addOutside()
            let pod = try node.addPod()
            let capabilities = #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#
            let add = try cnitool("add", node: node, pod: pod, confDir: confDir, capabilityArgs: capabilities)
            #expect(add.status == 0, "\(add.stdout) \(add.stderr)")
            try node.serve(in: pod, port: 80, reply: "chained")
            #expect(try node.request(from: outside, to: TestNode.nodeAddress, port: 8080).hasPrefix("chained"))
            let del = try cnitool("del", node: node, pod: pod, confDir: confDir, capabilityArgs: capabilities)
            #expect(del.status == 0, "\(del.stderr)")
            #expect(node.reservations().isEmpty)
        }
    }
}

/// The reference plugins chained after weft accept its prevResult, and DEL of the chain leaves nothing.
@Suite(.privileged)
struct ChainingTests {
    @Test func bandwidthTuningAndFirewallChainAfterWeft() throws {
        try withNode { node in
            let confDir = "\(node.directory)/net.d"
            try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
            try """
            {"name":"cbr0","cniVersion":"1.0.0","plugins":[
              {"type":"weft","subnetFile":"\(node.subnetFile)","dataDir":"\(node.dataDir)","delegate":{"hairpinMode":true,"isDefaultGateway":true}},
              {"type":"bandwidth","capabilities":{"bandwidth":true}},
              {"type":"tuning","sysctl":{"net.ipv4.conf.eth0.arp_notify":"1"}},
              {"type":"firewall"}]}
            """.write(toFile: "\(confDir)/10-weft.conflist", atomically: true, encoding: .utf8)
            let pod = try node.addPod()
            let bandwidth = #"{"bandwidth":{"ingressRate":8000000,"ingressBurst":80000,"egressRate":8000000,"egressBurst":80000}}"#
            let add = try CnitoolTests().cnitool("add", node: node, pod: pod, confDir: confDir, capabilityArgs: bandwidth)
            #expect(add.status == 0, "\(add.stdout) \(add.stderr)")
            let result = try #require(add.json)
            let hostVeth = try #require(
                ((result["interfaces"] as? [[String: Any]])?.first { ($0["name"] as? String)?.hasPrefix("veth") == true })?["name"] as? String)
            #expect(try node.exec("tc", "qdisc", "show", "dev", hostVeth).stdout.contains("tbf"), "bandwidth shaped weft's host veth")
            #expect(try node.links().contains { $0.hasPrefix("bwp") }, "bandwidth's egress IFB device exists")
            #expect(try node.execIn(pod, "sysctl", "-n", "net.ipv4.conf.eth0.arp_notify").stdout.hasPrefix("1"), "tuning set the pod sysctl")
            let address = try #require(podAddress(result))
            #expect(try node.exec("iptables", "-S", "CNI-FORWARD").stdout.contains(address), "firewall admitted the pod")
            #expect(try node.ping(from: pod, to: "10.244.1.1"))

            let del = try CnitoolTests().cnitool("del", node: node, pod: pod, confDir: confDir, capabilityArgs: bandwidth)
            #expect(del.status == 0, "\(del.stderr)")
            #expect(try node.links() == ["lo", "cni0"], "no veth and no IFB left")
            #expect(node.reservations().isEmpty)
            #expect(!(try node.exec("iptables", "-S", "CNI-FORWARD").stdout.contains(address)))
        }
    }
}

/// What `make install` puts on a node, used as a runtime would.
@Suite(
    .enabled(
        if: Privileged.available && ProcessInfo.processInfo.environment["WEFT_CONF_DIR"] != nil,
        "runs under make test, which installs into a scratch DESTDIR"))
struct InstalledLayoutTests {
    /// Before flanneld writes its lease the installed conflist fails ADD with a clear reason and changes nothing.
    /// The host's own /run/flannel (a flannel node) is covered by an empty tmpfs for the plugin alone.
    @Test func installedConflistBeforeFlannelIsUp() throws {
        let confDir = try #require(ProcessInfo.processInfo.environment["WEFT_CONF_DIR"])
        try withNode { node in
            let pod = try node.addPod()
            let before = try node.snapshot()
            let add = try CnitoolTests().cnitool("add", node: node, pod: pod, confDir: confDir, hiding: ["/run/flannel"])
            #expect(add.status != 99, "/run/flannel could not be hidden: \(add.stderr)")
            #expect(add.status != 0)
            #expect(add.stderr.contains(#"subnetFile "/run/flannel/subnet.env" does not exist: this node's subnet is not known yet"#), "\(add.stderr)")
            #expect(try node.snapshot() == before)
        }
    }
}

/// kube-flannel's conflist byte for byte but for `"type": "weft"`, with flanneld's subnet.env where
/// flannel keeps it. /run is replaced in a private mount namespace (keeping /run/netns), so the
/// defaults (/run/flannel/subnet.env, /run/weft/ipam) are used without touching the host's /run.
@Suite(.privileged)
struct StockFlannelConflistTests {
    @Test func stockConflistWithTypeChangedWiresPods() throws {
        guard let tool = CnitoolTests.cnitool else { throw TestFailure("cnitool not built: run `make cnitool`") }
        try withNode { node in
            let a = try node.addPod(), b = try node.addPod()
            let run = "\(node.directory)/run"
            let confDir = "\(node.directory)/net.d"
            try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
            try
                #"{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"weft","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#
                .write(toFile: "\(confDir)/10-flannel.conflist", atomically: true, encoding: .utf8)
            let pluginDir = URL(fileURLWithPath: TestNode.binary("weft")).deletingLastPathComponent().path
            let script = """
                set -u
                mkdir -p \(run)/netns \(run)/flannel
                mount --rbind /run/netns \(run)/netns
                printf 'FLANNEL_NETWORK=10.244.0.0/16\\nFLANNEL_SUBNET=10.244.7.1/24\\nFLANNEL_MTU=1450\\nFLANNEL_IPMASQ=true\\n' > \(run)/flannel/subnet.env
                mount --rbind \(run) /run
                cni() { NETCONFPATH=\(confDir) CNI_PATH=\(pluginDir):/usr/lib/cni CNI_CACHEDIR=\(node.directory)/cache CNI_CONTAINERID=$2 \\
                  nsenter --net=\(node.namespacePath) \(tool) $1 cbr0 $3; }
                cni add pod-a \(a) >/dev/null && echo "ADD a ok"
                cni add pod-b \(b) >/dev/null && echo "ADD b ok"
                ip netns exec \(URL(fileURLWithPath: a).lastPathComponent) ping -c1 -W2 10.244.7.3 >/dev/null && echo "a reaches b"
                echo "store: $(ls /run/weft/ipam/cbr0/owners | wc -l)"
                cni del pod-a \(a) && cni del pod-b \(b) && echo "DEL ok"
                echo "store after: $(ls /run/weft/ipam/cbr0/owners | wc -l)"
                """
            let result = try runProgram(
                "/usr/bin/unshare", ["--mount", "--propagation", "private", "sh", "-c", script],
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
            for line in ["ADD a ok", "ADD b ok", "a reaches b", "store: 2", "DEL ok", "store after: 0"] {
                #expect(result.stdout.contains(line), "\(line): \(result.stdout) \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: "/run/weft/ipam/cbr0/owners/pod-a:eth0"), "the host's /run is untouched")
        }
    }
}
