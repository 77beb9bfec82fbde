import Testing
import WeftAddress
@testable import WeftAgent

@Suite struct NetConfTests {
    @Test func flannelDefaultsForASlash16() throws {
        let config = try NetConf.parse(#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
        #expect(config.network == IPNetwork("10.244.0.0/16"))
        #expect(config.subnetLength == 24)
        // The first subnet is skipped: its network address is the cluster network's.
        #expect(config.subnetMin == IPAddress("10.244.1.0"))
        #expect(config.subnetMax == IPAddress("10.244.255.0"))
        #expect(config.backend == .vxlan(vni: 1, port: 8472))
        #expect(SubnetChoice.all(config).count == 255)
    }

    @Test func explicitBoundsVNIAndPort() throws {
        let config = try NetConf.parse(
            #"""
            {"Network":"10.5.0.0/16","SubnetLen":26,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.1.192",
             "Backend":{"Type":"vxlan","VNI":42,"Port":4789}}
            """#)
        #expect(config.subnetLength == 26)
        #expect(SubnetChoice.all(config).map(\.description) == ["10.5.1.0/26", "10.5.1.64/26", "10.5.1.128/26", "10.5.1.192/26"])
        #expect(config.backend == .vxlan(vni: 42, port: 4789))
    }

    @Test func smallNetworksAreSplitInFourAndTinyOnesRefused() throws {
        let small = try NetConf.parse(#"{"Network":"10.9.0.0/26","Backend":{"Type":"host-gw"}}"#)
        #expect(small.subnetLength == 28)
        #expect(small.backend == .hostGateway)
        #expect(SubnetChoice.all(small).count == 3)
        #expect(throws: AgentError.self) { try NetConf.parse(#"{"Network":"10.9.0.0/29","Backend":{"Type":"host-gw"}}"#) }
    }

    @Test func keysMatchInAnyCaseAsGoDecodes() throws {
        let config = try NetConf.parse(#"{"network":"10.1.0.0/16","backend":{"type":"host-gw"}}"#)
        #expect(config.network == IPNetwork("10.1.0.0/16"))
        #expect(config.backend == .hostGateway)
    }

    @Test(arguments: [
        #"{"Network":"10.1.0.0/16","SubnetMin":"10.2.0.0","Backend":{"Type":"vxlan"}}"#,  // outside the network
        #"{"Network":"10.1.0.0/16","SubnetMax":"10.1.3.7","Backend":{"Type":"vxlan"}}"#,  // not on a /24 boundary
        #"{"Network":"10.1.0.0/16","SubnetMin":"10.1.9.0","SubnetMax":"10.1.3.0","Backend":{"Type":"vxlan"}}"#,
        #"{"Network":"10.1.0.0/16","SubnetLen":8,"Backend":{"Type":"vxlan"}}"#,  // wider than the network
        #"{"Network":"10.1.0.0/16","Backend":{"Type":"udp"}}"#,
        #"{"Network":"10.1.0.0/16"}"#,  // flannel's default backend, udp
        #"{"Network":"fd00::/48","Backend":{"Type":"vxlan"}}"#,
        #"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}"#,
        #"["Network"]"#,
    ])
    func refused(_ json: String) {
        #expect(throws: AgentError.self) { try NetConf.parse(json) }
    }

    /// A field of the wrong type, a number beyond its range and a key spelled twice are refused with
    /// an error naming the field and the value. The control: the same document with each value well
    /// typed, and with unknown fields beside them, is accepted.
    @Test(arguments: [
        (#"{"Network":"10.1.0.0/16","SubnetLen":"24","Backend":{"Type":"vxlan"}}"#, #"net-conf: SubnetLen must be an integer, found "24""#),
        (#"{"Network":"10.1.0.0/16","EnableIPv6":"yes","Backend":{"Type":"vxlan"}}"#, #"net-conf: EnableIPv6 must be a boolean, found "yes""#),
        (#"{"Network":["10.1.0.0/16"],"Backend":{"Type":"vxlan"}}"#, #"net-conf: Network must be a string, found ["10.1.0.0\/16"]"#),
        (#"{"Network":"10.1.0.0/16","Backend":"vxlan"}"#, #"net-conf: Backend must be an object, found "vxlan""#),
        (#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":"1"}}"#, #"net-conf: Backend.VNI must be an integer, found "1""#),
        (#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":1e30}}"#, "net-conf: Backend.VNI has an invalid value 1e+30"),
        (#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":4294967297}}"#, "Backend.VNI 4294967297 is out of range (0…16777215)"),
        (#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","Port":65536}}"#, "Backend.Port 65536 is out of range (0…65535)"),
        (#"{"Network":"10.1.0.0/16","SubnetLen":99999999999999999999,"Backend":{"Type":"vxlan"}}"#, "net-conf: SubnetLen has an invalid value 1e+20"),
        (#"{"Network":"10.1.0.0/16","network":"10.2.0.0/16","Backend":{"Type":"vxlan"}}"#, #"net-conf: key "Network" appears twice"#),
        (#"{"Network":"10.1.0.0/16","Backend":{"Type":"geneve"}}"#, #"Backend.Type "geneve" is not supported"#),
        (#"["Network"]"#, "net-conf: the document must be an object"),
        (#"{"Network":"10.1.0.0/16""#, "net-conf: not valid JSON"),
    ])
    func malformedValuesAreRefusedByName(json: String, message: String) throws {
        do {
            _ = try NetConf.parse(json)
            Issue.record("accepted \(json)")
        } catch let error as AgentError {
            #expect(error.kind == .invalidConfig)
            #expect(error.message.contains(message), "\(error.message)")
        }
        let wellTyped = try NetConf.parse(
            #"""
            {"Network":"10.1.0.0/16","SubnetLen":24,"EnableIPv6":false,"Future":{"x":[1]},
             "Backend":{"Type":"vxlan","VNI":7,"Port":4789,"GBP":true}}
            """#)
        #expect(wellTyped.subnetLength == 24 && wellTyped.backend == .vxlan(vni: 7, port: 4789))
    }

    @Test func goDurations() {
        #expect(GoDuration.seconds("10s") == 10)
        #expect(GoDuration.seconds("24h") == 86400)
        #expect(GoDuration.seconds("1h30m") == 5400)
        #expect(GoDuration.seconds("1.5s") == 1.5)
        #expect(GoDuration.seconds("500ms") == 0.5)
        #expect(GoDuration.seconds("0") == 0)
        for bad in ["", "10", "s", "10x", "-5s", "1h 2m"] { #expect(GoDuration.seconds(bad) == nil, "\(bad)") }
        #expect(GoDuration.text(seconds: 86400) == "24h0m0s")
        #expect(GoDuration.text(seconds: 5) == "5s")
    }

    @Test func metricsAddresses() throws {
        #expect(try AgentOptions.address("127.0.0.1:9410")! == ("127.0.0.1", 9410))
        #expect(try AgentOptions.address(":9410")! == ("127.0.0.1", 9410))
        #expect(try AgentOptions.address("[::1]:9410")! == ("::1", 9410))
        #expect(try AgentOptions.address("off") == nil)
        #expect(throws: AgentError.self) { try AgentOptions.address("localhost") }
    }
}
