import Foundation
import Testing
import WeftTestSupport

/// podman with its CNI backend: a real container runtime calling Weft through libcni. Everything it
/// uses lives in a temp directory (containers.conf via CONTAINERS_CONF, storage, CNI configs) and it
/// runs inside the test's node namespace under `nsenter --net=…` (under `ip netns exec` podman fails:
/// that command remounts /sys and hides the cgroup mounts).
@Suite(.privileged)
struct PodmanTests {
    final class Podman {
        let node: TestNode
        let directory: String
        let pluginDirectory: String

        init(node: TestNode) throws {
            self.node = node
            directory = "\(node.directory)/podman"
            pluginDirectory = URL(fileURLWithPath: TestNode.binary("weft")).deletingLastPathComponent().path
            let rootfs = "\(directory)/rootfs"
            for sub in ["net.d", "root", "runroot", "rootfs/bin", "rootfs/www", "ipam"] {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            }
            // An image from busybox-static: no registry is reachable.
            try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: "\(rootfs)/bin/busybox")
            for tool in ["sh", "httpd", "wget", "ip", "sleep", "cat"] {
                try FileManager.default.createSymbolicLink(atPath: "\(rootfs)/bin/\(tool)", withDestinationPath: "busybox")
            }
            try "hello from weft\n".write(toFile: "\(rootfs)/www/index.html", atomically: true, encoding: .utf8)
            try """
            [containers]
            default_ulimits = []
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["\(pluginDirectory)", "/usr/lib/cni"]
            network_config_dir = "\(directory)/net.d"
            [engine]
            runtime = "runc"
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            """.write(toFile: "\(directory)/containers.conf", atomically: true, encoding: .utf8)
            try """
            {"cniVersion":"1.0.0","name":"weftnet","plugins":[{"type":"weft","subnetFile":"\(node.subnetFile)","dataDir":"\(directory)/ipam",
             "delegate":{"hairpinMode":true,"isDefaultGateway":true},"capabilities":{"portMappings":true}}]}
            """.write(toFile: "\(directory)/net.d/weftnet.conflist", atomically: true, encoding: .utf8)
            let imported = try runProgram("/bin/sh", ["-c", "tar -C \(rootfs) -c . | \(commandLine) import - localhost/weft-busybox"])
            guard imported.status == 0 else { throw TestFailure("podman import: \(imported.stderr)") }
        }

        var commandLine: String {
            "nsenter --net=\(node.namespacePath) env CONTAINERS_CONF=\(directory)/containers.conf podman --root \(directory)/root --runroot \(directory)/runroot --storage-driver vfs"
        }

        @discardableResult
        func run(_ arguments: String) throws -> ProgramResult {
            try runProgram("/bin/sh", ["-c", "\(commandLine) \(arguments)"])
        }

        func cleanup() {
            _ = try? run("rm -af -t 0")
            _ = try? run("system reset -f")
        }
    }

    @Test func containersOnAWeftNetworkTalkPublishAndLeaveNothingBehind() throws {
        try withNode { node in
            let podman = try Podman(node: node)
            defer { podman.cleanup() }
            let web = try podman.run("run -d --name web --network weftnet -p 8080:80 localhost/weft-busybox httpd -f -p 80 -h /www")
            #expect(web.status == 0, "\(web.stderr)")
            let client = try podman.run("run -d --name client --network weftnet localhost/weft-busybox sleep 600")
            #expect(client.status == 0, "\(client.stderr)")
            let address = try podman.run("inspect web --format '{{.NetworkSettings.Networks.weftnet.IPAddress}}'").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(address.hasPrefix("10.244.1."), "the container's address is in the node subnet: \(address)")
            #expect(try podman.run("exec client wget -qO- http://\(address)/").stdout == "hello from weft\n", "container to container")
            #expect(try node.exec("wget", "-qO-", "http://127.0.0.1:8080/").stdout == "hello from weft\n", "the published port from the node")
            #expect(
                try podman.run("exec web wget -qO- http://10.244.1.1:8080/").stdout == "hello from weft\n",
                "the container reaches itself through its published port")
            #expect(node.reservations(dataDir: "\(podman.directory)/ipam", network: "weftnet").count == 2)

            #expect(try podman.run("rm -f -t 0 web client").status == 0)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty, "no veth left")
            #expect(node.reservations(dataDir: "\(podman.directory)/ipam", network: "weftnet").isEmpty, "no address held")
            #expect(!(try node.exec("nft", "list", "table", "inet", "weft").stdout.contains("weft/weftnet/")), "no hostPort left")
        }
    }
}
