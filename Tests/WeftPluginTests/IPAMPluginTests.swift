import Foundation
import Testing
import WeftTestSupport

/// weft-ipam as a separate process, the way the reference plugins call an IPAM plugin.
@Suite(.privileged)
struct IPAMPluginTests {
    /// An IPAM plugin's config: host-local's keys under `ipam`.
    static func config(dataDir: String, subnet: String = "10.22.0.0/16", version: String = "1.0.0", extra: String = "") -> String {
        #"{"cniVersion":"\#(version)","name":"ipamnet","type":"bridge","ipam":{"type":"weft-ipam","subnet":"\#(subnet)","dataDir":"\#(dataDir)","routes":[{"dst":"0.0.0.0/0"}]\#(extra)}}"#
    }

    func ipam(
        _ command: String, id: String, netns: String = "/var/run/netns/none", binary: String = TestNode.binary("weft-ipam"),
        config: String, extra: [String: String] = [:]
    ) throws -> ProgramResult {
        var environment = ["PATH": "/usr/bin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": netns, "CNI_IFNAME": "eth0"]
        environment.merge(extra) { $1 }
        return try runProgram(binary, [], input: config, environment: environment)
    }

    @Test func hundredConcurrentProcessesGetDistinctAddressesAndADeleteStormFreesThem() throws {
        try withNode { node in
            let config = Self.config(dataDir: node.dataDir)
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: 100) { index in
                outcomes.record(
                    index,
                    Result {
                        let result = try ipam("ADD", id: "c\(index)", config: config)
                        guard result.status == 0, let json = result.json else { throw TestFailure(result.stdout) }
                        return json
                    })
            }
            let addresses = try outcomes.all.map { try #require(podAddress(try $0.get())) }
            #expect(Set(addresses).count == 100)
            let owners = (try? FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/ipamnet/owners")) ?? []
            #expect(owners.filter { !$0.hasPrefix(".") }.count == 100)

            let deletes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: 100) { index in
                deletes.record(
                    index,
                    Result {
                        let result = try ipam("DEL", id: "c\(index)", config: config)
                        guard result.status == 0 else { throw TestFailure(result.stdout) }
                        return [:]
                    })
            }
            for outcome in deletes.all { _ = try outcome.get() }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/ipamnet/ips")) ?? []).filter { !$0.hasPrefix(".") }.isEmpty)
        }
    }

    @Test(arguments: ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    func resultsComeInTheIPAMShapeOfEachVersion(version: String) throws {
        try withNode { node in
            let resolv = "\(node.directory)/resolv.conf"
            try "nameserver 10.96.0.10\nsearch svc.cluster.local cluster.local\noptions ndots:5\n".write(toFile: resolv, atomically: true, encoding: .utf8)
            let result = try ipam("ADD", id: "c1", config: Self.config(dataDir: node.dataDir, version: version, extra: #","resolvConf":"\#(resolv)""#))
            let json = try #require(result.json, "\(result.stdout)")
            #expect(json["cniVersion"] as? String == version)
            #expect(json["interfaces"] == nil)
            if version == "0.2.0" {
                #expect((json["ip4"] as? [String: Any])?["ip"] as? String == "10.22.0.2/16")
            } else {
                let ip = try #require((json["ips"] as? [[String: Any]])?.first)
                #expect(ip["address"] as? String == "10.22.0.2/16")
                #expect(ip["gateway"] as? String == "10.22.0.1")
                #expect(ip["interface"] == nil)
                #expect((ip["version"] as? String) == (version.hasPrefix("0.") ? "4" : nil))
            }
            let dns = try #require(json["dns"] as? [String: Any])
            #expect(dns["nameservers"] as? [String] == ["10.96.0.10"])
            #expect(dns["search"] as? [String] == ["svc.cluster.local", "cluster.local"])
        }
    }

    @Test func requestedAddressesAreHonouredOrRefusedByName() throws {
        try withNode { node in
            let config = Self.config(dataDir: node.dataDir, extra: "").replacingOccurrences(
                of: #""type":"bridge","#, with: #""type":"bridge","runtimeConfig":{"ips":["10.22.3.4/16"]},"#)
            let first = try #require(try ipam("ADD", id: "a", config: config).json)
            #expect(podAddress(first) == "10.22.3.4")
            let taken = try ipam("ADD", id: "b", config: config)
            #expect(taken.json?["code"] as? Int == 7)
            #expect((taken.json?["msg"] as? String)?.contains("10.22.3.4") == true)
            let viaArgs = try #require(
                try ipam("ADD", id: "c", config: Self.config(dataDir: node.dataDir), extra: ["CNI_ARGS": "IgnoreUnknown=1;IP=10.22.9.9"]).json)
            #expect(podAddress(viaArgs) == "10.22.9.9")
        }
    }

    @Test func checkFindsTheReservationAndStatusReportsExhaustion() throws {
        try withNode { node in
            let config = Self.config(dataDir: node.dataDir, subnet: "10.23.0.0/30")
            let add = try ipam("ADD", id: "only", config: config)
            let result = try #require(add.json)
            var withPrev = try #require(try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any])
            withPrev["prevResult"] = result
            let checkConfig = String(decoding: try JSONSerialization.data(withJSONObject: withPrev), as: UTF8.self)
            #expect(try ipam("CHECK", id: "only", config: checkConfig).status == 0)
            let wrong = try ipam("CHECK", id: "other", config: checkConfig)
            #expect(wrong.json?["code"] as? Int == 102)

            let full = try ipam("ADD", id: "second", config: config)
            #expect(full.json?["code"] as? Int == 11)
            #expect((full.json?["msg"] as? String) == "no IP addresses available in range set: 10.23.0.0/30")
            #expect((full.json?["details"] as? String)?.hasPrefix("1 addresses held") == true)
            let status = try ipam("STATUS", id: "", config: Self.config(dataDir: node.dataDir, subnet: "10.23.0.0/30", version: "1.1.0"))
            #expect(status.json?["code"] as? Int == 50)
        }
    }

    @Test(arguments: ["cni.dev/valid-attachments", "cni.dev/attachments"])
    func gcReleasesWhatIsNotListed(key: String) throws {
        try withNode { node in
            let config = Self.config(dataDir: node.dataDir, version: "1.1.0")
            for id in ["keep", "drop1", "drop2"] { #expect(try ipam("ADD", id: id, config: config).status == 0) }
            let gcConfig = String(config.dropLast()) + #","\#(key)":[{"containerID":"keep","ifname":"eth0"}]}"#
            let gc = try ipam("GC", id: "", config: gcConfig)
            #expect(gc.status == 0, "\(gc.stdout)")
            let owners = try FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/ipamnet/owners").filter { !$0.hasPrefix(".") }
            #expect(owners == ["keep:eth0"])
            let empty = String(config.dropLast()) + #","cni.dev/valid-attachments":[]}"#
            #expect(try ipam("GC", id: "", config: empty).status == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/ipamnet/owners").filter { !$0.hasPrefix(".") }.isEmpty)
        }
    }

    /// kill -9 at each step of a reservation and of a release: afterwards no address file is unowned,
    /// DEL cleans up, and a fresh ADD gets an address nobody holds.
    @Test(arguments: ["publish-after-temporary", "reserve-after-owner-record", "reserve-after-address-files", "reserve-done", "release-after-address-file"])
    func killNineAtEveryStepLeavesAConsistentStore(step: String) throws {
        try withNode { node in
            let binary = TestNode.debugBinary("weft-ipam")
            let config = Self.config(dataDir: node.dataDir)
            #expect(try ipam("ADD", id: "survivor", binary: binary, config: config).status == 0)
            let killedCommand = step.hasPrefix("release") ? "DEL" : "ADD"
            if killedCommand == "DEL" { #expect(try ipam("ADD", id: "victim", binary: binary, config: config).status == 0) }
            let killed = try ipam(killedCommand, id: "victim", binary: binary, config: config, extra: ["WEFT_TEST_KILL_AT": step])
            #expect(killed.signal == SIGKILL && killed.stdout.isEmpty, "killed at \(step)")

            try expectEveryAddressOwned(dataDir: node.dataDir)
            #expect(try ipam("DEL", id: "victim", binary: binary, config: config).status == 0)
            try expectEveryAddressOwned(dataDir: node.dataDir)
            let survivor = try #require(try ipam("ADD", id: "survivor", binary: binary, config: config).json)
            let fresh = try #require(try ipam("ADD", id: "fresh", binary: binary, config: config).json)
            #expect(podAddress(fresh) != podAddress(survivor))
            let ips = try FileManager.default.contentsOfDirectory(atPath: "\(node.dataDir)/ipamnet/ips").filter { !$0.hasPrefix(".") }
            #expect(ips.count == 2)
        }
    }

    /// Every `ips/<address>` names an owner whose record lists that address.
    func expectEveryAddressOwned(dataDir: String) throws {
        let base = "\(dataDir)/ipamnet"
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(base)/ips") where !name.hasPrefix(".") {
            let holder = try String(contentsOfFile: "\(base)/ips/\(name)", encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(holder.count == 2, "address file \(name) is complete")
            let record = try? String(contentsOfFile: "\(base)/owners/\(holder.first ?? ""):\(holder.last ?? "")", encoding: .utf8)
            #expect(record?.contains("address=\(name)") == true, "\(name) is listed by its owner")
        }
    }

    @Test func theReferenceBridgePluginWiresPodsWithWeftIPAM() throws {
        try withNode { node in
            let pluginDir = "\(node.directory)/plugins"
            try FileManager.default.createDirectory(atPath: pluginDir, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(pluginDir)/weft-ipam", withDestinationPath: TestNode.binary("weft-ipam"))
            try FileManager.default.createSymbolicLink(atPath: "\(pluginDir)/bridge", withDestinationPath: "/usr/lib/cni/bridge")
            let config =
                #"{"cniVersion":"1.0.0","name":"refnet","type":"bridge","bridge":"cni9","isGateway":true,"ipam":{"type":"weft-ipam","subnet":"10.30.0.0/24","dataDir":"\#(node.dataDir)"}}"#
            var addresses: [String] = []
            var pods: [String] = []
            for index in 0..<2 {
                let pod = try node.addPod()
                pods.append(pod)
                let result = try runProgram(
                    "/usr/bin/nsenter", ["--net=\(node.namespacePath)", "/usr/lib/cni/bridge"], input: config,
                    environment: [
                        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ref\(index)", "CNI_NETNS": pod,
                        "CNI_IFNAME": "eth0", "CNI_PATH": pluginDir,
                    ])
                #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
                let json = try #require(result.json)
                addresses.append(try #require(podAddress(json)))
            }
            #expect(addresses == ["10.30.0.2", "10.30.0.3"])
            #expect(try node.ping(from: pods[0], to: addresses[1]))
        }
    }
}
