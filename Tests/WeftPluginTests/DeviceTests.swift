import Foundation
import Testing
import WeftTestSupport

/// The device datapath (Terway's exclusive ENI) against a stand-in for a cloud network: an underlay
/// bridge with a gateway (192.168.70.1, an address behind it at 198.51.100.1), the node's own interface
/// on it (mgmt0, 192.168.70.10), and two "ENIs" (eni0, eni1): veth pairs whose far ends are ports of the
/// underlay bridge. A veth stand-in is a virtual device: it dies with a pod namespace deleted without
/// DEL, where a physical one returns to the node (simulated by moving it back by hand).
@Suite(.privileged)
struct DeviceTests {
    static let behindGateway = "198.51.100.1"
    static let nodeAddress = "192.168.70.10"

    func deviceConfig(_ node: TestNode, devices: [String] = ["eni0", "eni1"], extra: String = "") -> String {
        let pool = devices.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"cniVersion":"1.0.0","name":"eni","type":"weft","datapath":"device","devices":[\#(pool)],"mtu":1400,"#
            + #""isDefaultGateway":true,"dataDir":"\#(node.dataDir)","#
            + #""ipam":{"ranges":[[{"subnet":"192.168.70.0/24","rangeStart":"192.168.70.100","rangeEnd":"192.168.70.199","gateway":"192.168.70.1"}]]}\#(extra)}"#
    }

    /// Builds the underlay and the node's ENIs (down, MTU 1500, no address: as a cloud attaches them).
    /// Returns the gateway's namespace.
    @discardableResult
    func buildUnderlay(_ node: TestNode, enis: [String] = ["eni0", "eni1"]) throws -> String {
        let underlay = try node.addPod("und"), gateway = try node.addPod("gw")
        let name = { (path: String) in URL(fileURLWithPath: path).lastPathComponent }
        try node.execIn(underlay, "ip", "link", "add", "br0", "type", "bridge")
        try node.execIn(underlay, "ip", "link", "set", "br0", "up")
        try node.execIn(underlay, "ip", "link", "add", "p-gw", "type", "veth", "peer", "name", "eth0", "netns", name(gateway))
        try node.execIn(underlay, "ip", "link", "set", "p-gw", "master", "br0", "up")
        try node.execIn(gateway, "ip", "addr", "add", "192.168.70.1/24", "dev", "eth0")
        try node.execIn(gateway, "ip", "link", "set", "eth0", "up")
        try node.execIn(gateway, "ip", "addr", "add", "\(Self.behindGateway)/32", "dev", "lo")
        try node.execIn(gateway, "ip", "link", "set", "lo", "up")
        for (device, port) in [("mgmt0", "p-mgmt")] + enis.enumerated().map({ ($1, "p-eni\($0)") }) {
            try node.exec("ip", "link", "add", device, "type", "veth", "peer", "name", port, "netns", name(underlay))
            try node.execIn(underlay, "ip", "link", "set", port, "master", "br0", "up")
        }
        try node.exec("ip", "addr", "add", "\(Self.nodeAddress)/24", "dev", "mgmt0")
        // No IPv6 link-local address on mgmt0: the kernel adds it when the veth's carrier comes up, which
        // linkwatch reports up to a second later, so a snapshot could miss it and the next one see it.
        try node.exec("ip", "link", "set", "mgmt0", "addrgenmode", "none")
        try node.exec("ip", "link", "set", "mgmt0", "up")
        return gateway
    }

    /// Links, addresses and routes of the node, and the store's files: what DEL must restore.
    func nodeState(_ node: TestNode) throws -> String {
        let store = (FileManager.default.enumerator(atPath: node.dataDir)?.allObjects as? [String] ?? [])
            .filter { $0.contains("/owners/") || $0.contains("/ips/") || $0.contains("/devices/") }.sorted()
        try node.settle()
        return try [["-o", "link", "show"], ["-o", "addr", "show"], ["route", "show", "table", "all"]].map {
            try runProgram("/usr/sbin/ip", ["-n", node.name] + $0).stdout
        }.joined(separator: "\n--\n") + "\n--\n" + store.joined(separator: "\n")
    }

    func mac(_ device: String, in namespace: String) throws -> String {
        let line = try runProgram("/usr/sbin/ip", ["-n", namespace, "-o", "link", "show", device]).stdout
        return line.components(separatedBy: "link/ether ").dropFirst().first?.components(separatedBy: " ").first ?? "?"
    }

    func name(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    @Test func twoPodsTalkTheNodeReachesThemAndDelGivesTheDevicesBack() throws {
        try withNode { node in
            let gateway = try buildUnderlay(node)
            let before = try nodeState(node)
            let macs = try ["eni0", "eni1"].map { try mac($0, in: node.name) }
            let a = try node.addPod(), b = try node.addPod()
            let resultA = try node.add(containerID: "a", netns: a, config: deviceConfig(node))
            _ = try node.add(containerID: "b", netns: b, config: deviceConfig(node))
            #expect((resultA["ips"] as? [[String: Any]])?.first?["address"] as? String == "192.168.70.100/24")
            #expect((resultA["interfaces"] as? [[String: Any]])?.first?["mac"] as? String == macs[0], "the device's MAC stays")
            #expect(try mac("eth0", in: name(a)) == macs[0])
            #expect(try mac("eth0", in: name(b)) == macs[1])
            #expect(try node.execIn(a, "ip", "-o", "link", "show", "eth0").stdout.contains("mtu 1400"))
            #expect(try !node.links().contains("eni0") && !node.links().contains("eni1"), "the devices left the node")

            try node.serve(in: b, port: 7000, reply: "b")
            #expect(try node.request(from: a, to: "192.168.70.101", port: 7000) == "b peer=192.168.70.100")
            #expect(try node.request(from: "", to: "192.168.70.101", port: 7000) == "b peer=\(Self.nodeAddress)", "the node, over the underlay")
            try node.serve(in: gateway, port: 7001, reply: "internet")
            #expect(
                try node.request(from: a, to: Self.behindGateway, port: 7001) == "internet peer=192.168.70.100",
                "the default route through the range's gateway")

            for (id, pod) in [("a", a), ("b", b)] {
                #expect(try node.weft("DEL", containerID: id, netns: pod, config: deviceConfig(node)).status == 0)
            }
            #expect(try nodeState(node) == before, "eni0 and eni1 back under their names, MTU 1500, no address, no alias")
            #expect(try node.execIn(a, "ip", "-o", "link", "show").stdout.split(separator: "\n").count == 1, "only lo is left in the pod")
            // Handed out again.
            let again = try node.add(containerID: "c", netns: b, config: deviceConfig(node))
            #expect((again["interfaces"] as? [[String: Any]])?.first?["mac"] as? String == macs[0])
        }
    }

    @Test func anEmptyPoolIsCode11AndTheNextPodGetsTheDeviceDelReturns() throws {
        try withNode { node in
            try buildUnderlay(node)
            let a = try node.addPod(), b = try node.addPod(), c = try node.addPod()
            _ = try node.add(containerID: "a", netns: a, config: deviceConfig(node))
            _ = try node.add(containerID: "b", netns: b, config: deviceConfig(node))
            let before = try nodeState(node)
            let full = try node.weft("ADD", containerID: "c", netns: c, config: deviceConfig(node))
            #expect(full.json?["code"] as? Int == 11)
            #expect(full.json?["msg"] as? String == "no free device in the pool (eni0, eni1): each is held by a pod or missing from the node")
            #expect((full.json?["details"] as? String)?.contains("eni0 held by container a interface eth0") == true, "\(full.stdout)")
            #expect(try nodeState(node) == before, "no reservation, no slot, nothing on the node")
            #expect(try node.execIn(c, "ip", "-o", "link", "show").stdout.split(separator: "\n").count == 1, "the pod is untouched")

            #expect(try node.weft("DEL", containerID: "a", netns: a, config: deviceConfig(node)).status == 0)
            let result = try node.add(containerID: "c", netns: c, config: deviceConfig(node))
            #expect(podAddress(result) != nil)
            #expect(try node.execIn(c, "ip", "-o", "link", "show", "eth0").status == 0)
        }
    }

    /// Four ADDs at once over two devices: two get one each, two are told to retry, nothing is shared.
    @Test func concurrentAddsNeverShareADevice() throws {
        try withNode { node in
            try buildUnderlay(node)
            let pods = try (0..<4).map { _ in try node.addPod() }
            let config = deviceConfig(node)
            // Each concurrent ADD writes its own slot only.
            nonisolated(unsafe) let statuses = UnsafeMutableBufferPointer<Int32>.allocate(capacity: pods.count)
            defer { statuses.deallocate() }
            DispatchQueue.concurrentPerform(iterations: pods.count) { index in
                statuses[index] = (try? node.weft("ADD", containerID: "p\(index)", netns: pods[index], config: config).status) ?? -1
            }
            #expect(statuses.filter { $0 == 0 }.count == 2, "\(Array(statuses))")
            let holders = try pods.filter { try node.execIn($0, "ip", "link", "show", "eth0").status == 0 }
            #expect(holders.count == 2)
            #expect(Set(try holders.map { try mac("eth0", in: name($0)) }).count == 2)
            #expect(node.reservations(network: "eni").count == 2)
        }
    }

    /// The netns deleted without DEL: a virtual device dies with it, and DEL frees its slot; a physical
    /// one comes back to the node under its pod name, and DEL renames it back.
    @Test func delAfterTheNetnsIsGone() throws {
        try withNode { node in
            try buildUnderlay(node)
            let before = try nodeState(node)
            let a = try node.addPod(), b = try node.addPod()
            _ = try node.add(containerID: "a", netns: a, config: deviceConfig(node))
            _ = try node.add(containerID: "b", netns: b, config: deviceConfig(node))
            // b's device "comes back" as the kernel returns a physical device: under its pod name, down.
            try node.execIn(b, "ip", "link", "set", "eth0", "netns", node.name)
            try node.deletePod(a)
            try node.deletePod(b)
            #expect(try node.links().contains("eth0"))
            for (id, pod) in [("a", a), ("b", b)] {
                #expect(try node.weft("DEL", containerID: id, netns: pod, config: deviceConfig(node)).status == 0)
            }
            #expect(try !node.links().contains("eni0"), "the virtual eni0 died with its namespace")
            #expect(try node.links().contains("eni1") && !node.links().contains("eth0"), "eni1 renamed back")
            #expect(try !node.exec("ip", "-o", "link", "show", "eni1").stdout.contains("alias"))
            #expect(try node.exec("ip", "-o", "link", "show", "eni1").stdout.contains("mtu 1500"))
            #expect(node.reservations(network: "eni").isEmpty)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/eni/devices")) == [])
            #expect(try nodeState(node) != before)  // eni0 is gone for good: the cloud would attach a new one
            let c = try node.addPod()
            let result = try node.add(containerID: "c", netns: c, config: deviceConfig(node))
            #expect((result["interfaces"] as? [[String: Any]])?.first?["name"] as? String == "eth0")
        }
    }

    /// The store lost (wiped by hand): DEL finds the device in the pod by its alias, which names its
    /// name on the node, and gives it back all the same.
    @Test func delWithoutTheStoresRecordGivesTheDeviceBackByItsAlias() throws {
        try withNode { node in
            try buildUnderlay(node)
            let pod = try node.addPod()
            _ = try node.add(containerID: "a", netns: pod, config: deviceConfig(node))
            try FileManager.default.removeItem(atPath: "\(node.dataDir)/eni")
            #expect(try node.weft("DEL", containerID: "a", netns: pod, config: deviceConfig(node)).status == 0)
            #expect(try node.links().contains("eni0"), "eni0 back on the node")
            #expect(try node.execIn(pod, "ip", "-o", "link", "show").stdout.split(separator: "\n").count == 1)
            #expect(
                try node.exec("ip", "-o", "link", "show", "eni0").stdout.contains("mtu 1400"),
                "without the record the MTU it had on the node is unknown: it keeps the pod's")
        }
    }

    @Test(arguments: ["add-after-reserve", "add-after-device-move"])
    func killedDuringAddThenDelLeavesNothing(step: String) throws {
        try withNode { node in
            try buildUnderlay(node)
            let before = try nodeState(node)
            let pod = try node.addPod()
            let killed = try runProgram(
                "/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.debugBinary("weft")], input: deviceConfig(node),
                environment: [
                    "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "victim", "CNI_NETNS": pod, "CNI_IFNAME": "eth0",
                    "WEFT_TEST_KILL_AT": step,
                ])
            #expect(killed.signal == SIGKILL)
            #expect(try node.weft("DEL", containerID: "victim", netns: pod, config: deviceConfig(node)).status == 0)
            #expect(try nodeState(node) == before)
        }
    }

    @Test func checkNamesAMissingAddressAndGCGivesTheDeviceBack() throws {
        try withNode { node in
            try buildUnderlay(node)
            let before = try nodeState(node)
            let pod = try node.addPod()
            let result = try node.add(containerID: "c1", netns: pod, config: deviceConfig(node))
            var object = try #require(try JSONSerialization.jsonObject(with: Data(deviceConfig(node).utf8)) as? [String: Any])
            object["prevResult"] = result
            let check = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            #expect(try node.weft("CHECK", containerID: "c1", netns: pod, config: check).status == 0)
            try node.execIn(pod, "ip", "addr", "flush", "dev", "eth0")
            let failed = try node.weft("CHECK", containerID: "c1", netns: pod, config: check)
            #expect(failed.json?["code"] as? Int == 102)
            #expect((failed.json?["msg"] as? String)?.contains("address 192.168.70.100/24 is missing from eth0") == true, "\(failed.stdout)")

            var gc = try #require(try JSONSerialization.jsonObject(with: Data(deviceConfig(node).utf8)) as? [String: Any])
            gc["cniVersion"] = "1.1.0"
            gc["cni.dev/valid-attachments"] = [[String: String]]()
            let gcConfig = String(decoding: try JSONSerialization.data(withJSONObject: gc), as: UTF8.self)
            #expect(try node.weft("GC", config: gcConfig).status == 0)
            #expect(try nodeState(node) == before, "GC gave eni0 back and freed its slot")
        }
    }

    /// A device network beside a bridge and a routed one on the same node: none disturbs another's pods.
    @Test func theThreeDatapathsSideBySide() throws {
        try withNode { node in
            try node.addOutside()
            try buildUnderlay(node)
            let bridged = try node.addPod(), routed = try node.addPod(), device = try node.addPod()
            let routedConfig = #"{"cniVersion":"1.0.0","name":"routed","type":"weft","datapath":"routed","subnet":"10.66.0.0/24","dataDir":"\#(node.dataDir)"}"#
            _ = try node.add(containerID: "br", netns: bridged)
            _ = try node.add(containerID: "rt", netns: routed, config: routedConfig)
            _ = try node.add(containerID: "dv", netns: device, config: deviceConfig(node))
            try node.serve(in: bridged, port: 7000, reply: "bridged")
            try node.serve(in: routed, port: 7000, reply: "routed")
            try node.serve(in: device, port: 7000, reply: "device")
            func answers() throws -> [String] {
                try [("10.244.1.2", 0), ("10.66.0.2", 0), ("192.168.70.100", 0)].map { try node.request(from: "", to: $0.0, port: 7000) }
                    .map { String($0.prefix { $0 != " " }) }
            }
            #expect(try answers() == ["bridged", "routed", "device"])
            #expect(try node.weft("DEL", containerID: "dv", netns: device, config: deviceConfig(node)).status == 0)
            #expect(try answers() == ["bridged", "routed", ""])
            #expect(try node.weft("DEL", containerID: "rt", netns: routed, config: routedConfig).status == 0)
            #expect(try answers() == ["bridged", "", ""])
            #expect(node.reservations() == ["br:eth0"])
        }
    }

    @Test(arguments: [
        (#","hairpinMode":true"#, "hairpinMode is not taken by datapath device"),
        (#","ipMasq":true"#, "ipMasq is not taken by datapath device"),
        (#","uplink":{"device":"eni0","gateway":"192.168.70.1"}"#, "uplink is not taken by datapath device"),
        (#","bandwidth":{"ingressRate":1000000,"ingressBurst":100000}"#, "bandwidth is not taken by datapath device"),
        (
            #","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#,
            "runtimeConfig.portMappings is not taken by datapath device"
        ),
        (#","devices":[]"#, "datapath device needs \"devices\": the node interfaces it may hand to pods"),
        (#","devices":["eni0","eni0"]"#, "devices[1] eni0 is listed twice"),
    ])
    func keysTheDatapathDoesNotTakeAreRefused(extra: String, message: String) throws {
        try withNode { node in
            try buildUnderlay(node)
            let pod = try node.addPod()
            let before = try nodeState(node)
            // A later "devices" key replaces the pool: strip the config's own for those cases.
            var config = deviceConfig(node, extra: extra)
            if extra.contains("\"devices\"") { config = config.replacingOccurrences(of: #""devices":["eni0","eni1"],"#, with: "") }
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: config)
            #expect(add.json?["code"] as? Int == 7, "\(add.stdout)")
            #expect(add.json?["msg"] as? String == message)
            #expect(try nodeState(node) == before)
            #expect(try node.execIn(pod, "ip", "-o", "link", "show").stdout.split(separator: "\n").count == 1)
        }
    }
}
