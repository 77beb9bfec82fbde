import Foundation
import Testing

/// CHECK, results per spec version, rollback, conflicts, STATUS and GC.
@Suite(.privileged)
struct LifecycleTests {
    /// The config with `prevResult` set, as a runtime sends it to CHECK and DEL.
    func withPrevResult(_ config: String, _ result: [String: Any]) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any])
        object["prevResult"] = result
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test(arguments: ["0.4.0", "1.0.0", "1.1.0"])
    func checkPassesAfterAddAndNamesTheMissingRoute(version: String) throws {
        try withNode { node in
            let pod = try node.addPod()
            let config = node.config(version: version)
            let result = try node.add(containerID: "c1", netns: pod, config: config)
            let checkConfig = try withPrevResult(config, result)
            let check = try node.weft("CHECK", containerID: "c1", netns: pod, config: checkConfig)
            #expect(check.status == 0, "\(check.stdout)")
            #expect(check.stdout.isEmpty)

            try node.execIn(pod, "ip", "route", "del", "10.244.0.0/16")
            let failed = try node.weft("CHECK", containerID: "c1", netns: pod, config: checkConfig)
            #expect(failed.status != 0)
            #expect(failed.json?["code"] as? Int == 102)
            #expect((failed.json?["msg"] as? String) == "CHECK found 1 problem: route 10.244.0.0/16 via 10.244.1.1 is missing")
        }
    }

    @Test func checkNamesEveryMissingPiece() throws {
        try withNode { node in
            let pod = try node.addPod()
            let config = node.config(version: "1.0.0")
            let result = try node.add(containerID: "c1", netns: pod, config: config)
            let hostVeth = try #require(((result["interfaces"] as? [[String: Any]])?[1]["name"]) as? String)
            try node.exec("ip", "link", "set", hostVeth, "type", "bridge_slave", "hairpin", "off")
            try node.execIn(pod, "ip", "addr", "flush", "dev", "eth0")
            let check = try node.weft("CHECK", containerID: "c1", netns: pod, config: try withPrevResult(config, result))
            let message = try #require(check.json?["msg"] as? String)
            #expect(message.contains("address 10.244.1.2/24 is missing from eth0"))
            #expect(message.contains("\(hostVeth) has hairpin off, config wants on"))
        }
    }

    @Test func checkBelowZeroFourIsIncompatible() throws {
        try withNode { node in
            let pod = try node.addPod()
            let check = try node.weft("CHECK", containerID: "c1", netns: pod, config: node.config(version: "0.3.1"))
            #expect(check.json?["code"] as? Int == 1)
        }
    }

    /// Each result is checked against the kernel: the addresses and routes it names are the ones in the pod.
    @Test(arguments: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    func resultsMatchTheKernelForEachVersion(version: String) throws {
        try withNode { node in
            let pod = try node.addPod()
            let result = try node.add(containerID: "c1", netns: pod, config: node.config(version: version))
            #expect(result["cniVersion"] as? String == version)
            let interfaces = try #require(result["interfaces"] as? [[String: Any]])
            #expect(interfaces.map { $0["name"] as? String }.first == "cni0")
            #expect(interfaces[2]["name"] as? String == "eth0")
            #expect(interfaces[2]["sandbox"] as? String == pod)
            let ips = try #require(result["ips"] as? [[String: Any]])
            #expect(ips.count == 1)
            #expect(ips[0]["interface"] as? Int == 2)
            #expect(ips[0]["gateway"] as? String == "10.244.1.1")
            #expect((ips[0]["version"] as? String) == (version.hasPrefix("0.") ? "4" : nil))
            let address = try #require(ips[0]["address"] as? String)
            #expect(try node.execIn(pod, "ip", "-o", "addr", "show", "dev", "eth0").stdout.contains("inet \(address)"))
            let mac = try #require(interfaces[2]["mac"] as? String)
            #expect(try node.execIn(pod, "ip", "-o", "link", "show", "dev", "eth0").stdout.contains(mac))
            let podRoutes = try node.execIn(pod, "ip", "route").stdout
            for route in try #require(result["routes"] as? [[String: Any]]) {
                let dst = try #require(route["dst"] as? String)
                #expect(podRoutes.contains("\(dst == "0.0.0.0/0" ? "default" : dst) via \(route["gw"] as? String ?? "")"))
            }
        }
    }

    @Test(arguments: [("0.2.0", true), ("0.1.0", true), ("", false)])
    func legacyResultsUseIP4(version: String, explicit: Bool) throws {
        try withNode { node in
            let pod = try node.addPod()
            var config = node.config(version: version)
            if !explicit { config = config.replacingOccurrences(of: #""cniVersion":"","#, with: "") }
            let result = try node.add(containerID: "c1", netns: pod, config: config)
            #expect(result["cniVersion"] as? String == (explicit ? version : "0.1.0"))
            #expect((result["ip4"] as? [String: Any])?["ip"] as? String == "10.244.1.2/24")
        }
    }

    @Test func failedAddRollsBackTheVethAndTheAddress() throws {
        try withNode { node in
            let pod = try node.addPod()
            // A default route already in the pod makes ADD fail after the veth and address exist.
            try node.execIn(pod, "ip", "link", "set", "lo", "up")
            try node.execIn(pod, "ip", "route", "add", "default", "dev", "lo")
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: node.config())
            #expect(add.status != 0)
            #expect(add.json?["code"] as? Int == 100)
            #expect((add.json?["msg"] as? String)?.contains("add route 0.0.0.0/0 via 10.244.1.1") == true)
            #expect(node.reservations().isEmpty)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.isEmpty)
            #expect(!(try node.execIn(pod, "ip", "link").stdout.contains("eth0")))
        }
    }

    @Test func secondAddOfTheSameAttachmentFailsAndKeepsTheFirst() throws {
        try withNode { node in
            let pod = try node.addPod()
            _ = try node.add(containerID: "c1", netns: pod)
            let again = try node.weft("ADD", containerID: "c1", netns: pod, config: node.config())
            #expect(again.json?["code"] as? Int == 101)
            #expect((again.json?["msg"] as? String)?.contains("eth0 already exists") == true)
            #expect(node.reservations() == ["c1:eth0"])
            #expect(try node.ping(from: pod, to: "10.244.1.1"))
        }
    }

    @Test func bridgeHoldingAnotherAddressIsAClearError() throws {
        try withNode { node in
            try node.exec("ip", "link", "add", "cni0", "type", "bridge")
            try node.exec("ip", "addr", "add", "10.9.0.1/24", "dev", "cni0")
            let pod = try node.addPod()
            let before = try node.snapshot()
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: node.config())
            #expect(add.json?["code"] as? Int == 101)
            #expect(add.json?["msg"] as? String == "bridge cni0 holds 10.9.0.1/24, expected 10.244.1.1/24")
            #expect(try node.snapshot() == before, "the failed ADD rolled back its reservation")
        }
    }

    @Test func existingLinkThatIsNotABridgeIsRefused() throws {
        try withNode { node in
            try node.exec("ip", "link", "add", "cni0", "type", "veth", "peer", "name", "cni0p")
            let pod = try node.addPod()
            let add = try node.weft("ADD", containerID: "c1", netns: pod, config: node.config())
            #expect(add.json?["msg"] as? String == "cni0 exists and is not a bridge (kind veth)")
        }
    }

    @Test func statusIsReadyOnlyWithASubnetAndAWritableStore() throws {
        try withNode { node in
            let ready = try node.weft("STATUS", ifname: "", config: node.config(version: "1.1.0"))
            #expect(ready.status == 0, "\(ready.stdout)")
            try FileManager.default.removeItem(atPath: node.subnetFile)
            let notReady = try node.weft("STATUS", ifname: "", config: node.config(version: "1.1.0"))
            #expect(notReady.json?["code"] as? Int == 50)
            #expect((notReady.json?["msg"] as? String)?.contains("subnetFile") == true)
            let old = try node.weft("STATUS", ifname: "", config: node.config(version: "1.0.0"))
            #expect(old.json?["code"] as? Int == 1)
        }
    }

    @Test func gcRemovesAttachmentsNotListed() throws {
        try withNode { node in
            let keep = try node.addPod(), drop = try node.addPod()
            _ = try node.add(containerID: "keep", netns: keep)
            _ = try node.add(containerID: "drop", netns: drop)
            let gcConfig = node.config(version: "1.1.0", extra: #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#)
            let gc = try node.weft("GC", ifname: "", config: gcConfig)
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(node.reservations() == ["keep:eth0"])
            #expect(try node.links().filter { $0.hasPrefix("veth") }.count == 1)
            #expect(try node.ping(from: keep, to: "10.244.1.1"))
        }
    }

    @Test func versionNeedsNothingButTheCommand() throws {
        try withNode { node in
            let version = try node.weft("VERSION", ifname: "", config: "")
            #expect(version.status == 0)
            #expect((version.json?["supportedVersions"] as? [String])?.contains("0.3.1") == true)
        }
    }
}

@Suite(.privileged)
struct GCWithoutStoreTests {
    /// GC finds an unlisted attachment's veth through its alias even when the store no longer knows it.
    @Test func gcRemovesVethsTheStoreForgot() throws {
        try withNode { node in
            _ = try node.add(containerID: "forgotten", netns: try node.addPod())
            _ = try node.add(containerID: "kept", netns: try node.addPod())
            try FileManager.default.removeItem(atPath: node.dataDir)
            let gc = node.config(version: "1.1.0").dropLast() + #","cni.dev/valid-attachments":[{"containerID":"kept","ifname":"eth0"}]}"#
            #expect(try node.weft("GC", ifname: "", config: String(gc)).status == 0)
            #expect(try node.links().filter { $0.hasPrefix("veth") }.count == 1)
        }
    }
}
