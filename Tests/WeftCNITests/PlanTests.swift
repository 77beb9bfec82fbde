import Testing
import WeftCNI
import WeftAddress

@Suite struct PlanTests {
    @Test func flannelDefaults() throws {
        let plan = try plan(ConfigDecodingTests.flannel)
        #expect(plan.bridge == "cni0")
        #expect(plan.hairpinMode)
        #expect(plan.isGateway)
        #expect(plan.mtu == 1450)
        #expect(plan.dataDir == "/run/weft/ipam")
        #expect(plan.ranges.map(\.description) == ["10.244.1.0/24"])
        #expect(plan.ranges.first?.gateway.description == "10.244.1.1")
        #expect(plan.ranges.first?.first.description == "10.244.1.2")
        #expect(plan.routes.map { "\($0.destination) \($0.gateway?.description ?? "")" } == ["10.244.0.0/16 10.244.1.1", "0.0.0.0/0 10.244.1.1"])
    }

    @Test func stockFlannelEntryReadsFlannelsSubnetFile() throws {
        var asked: [String] = []
        _ = try NetworkPlan.resolve(
            try decode(ConfigDecodingTests.flannel),
            loadSubnetEnv: { path in
                asked.append(path)
                return flannelEnv
            })
        #expect(asked == ["/run/flannel/subnet.env"])
    }

    @Test func hairpinDefaultsOnAndTopLevelIsOverriddenByDelegate() throws {
        #expect(try plan(#"{"name":"n","type":"weft"}"#).hairpinMode)
        #expect(try plan(#"{"name":"n","type":"weft","hairpinMode":false}"#).hairpinMode == false)
        #expect(try plan(#"{"name":"n","type":"weft","hairpinMode":false,"delegate":{"hairpinMode":true}}"#).hairpinMode)
    }

    @Test func explicitSubnetNeedsNoSubnetFile() throws {
        let plan = try NetworkPlan.resolve(
            try decode(#"{"name":"n","type":"weft","subnet":"10.88.0.0/16","routes":[{"dst":"10.0.0.0/8"}]}"#),
            loadSubnetEnv: { _ in throw CNIError(.ioFailure, "must not be read") })
        #expect(plan.ranges.first?.gateway.description == "10.88.0.1")
        #expect(plan.routes.first?.gateway?.description == "10.88.0.1")
    }

    @Test func hostLocalRangesWithDualStack() throws {
        let plan = try plan(
            #"""
            {"name":"n","type":"weft","ipam":{"type":"host-local","ranges":[
              [{"subnet":"10.10.0.0/24","rangeStart":"10.10.0.100","rangeEnd":"10.10.0.200","gateway":"10.10.0.254"}],
              [{"subnet":"fd00:10::/64"}]]}}
            """#)
        #expect(plan.ranges.map(\.family) == [.v4, .v6])
        #expect(plan.ranges[0].first.description == "10.10.0.100")
        #expect(plan.ranges[0].gateway.description == "10.10.0.254")
        #expect(plan.ranges[1].gateway.description == "fd00:10::1")
        #expect(plan.ranges[1].first.description == "fd00:10::2")
    }

    @Test func flannelIPMasqFalseTurnsDatapathMasqueradeOn() throws {
        var env = flannelEnv
        env.ipMasq = false
        let resolved = try plan(ConfigDecodingTests.flannel, env: env)
        #expect(resolved.ipMasq)
        #expect(resolved.clusterNetworks.map(\.description) == ["10.244.0.0/16"])
        #expect(try plan(ConfigDecodingTests.flannel).ipMasq == false, "FLANNEL_IPMASQ=true: flanneld masquerades")
        #expect(try plan(#"{"name":"n","type":"weft","delegate":{"ipMasq":true}}"#).ipMasq, "the config wins")
    }

    @Test func explicitSubnetsMasqueradeOutsideThemselvesUnlessToldTheClusterNetworks() throws {
        let own = try plan(#"{"name":"n","type":"weft","subnet":"10.88.0.0/16","ipMasq":true}"#)
        #expect(own.clusterNetworks.map(\.description) == ["10.88.0.0/16"])
        let told = try plan(#"{"name":"n","type":"weft","subnet":"10.88.0.0/16","ipMasq":true,"clusterNetworks":["10.80.0.0/12"]}"#)
        #expect(told.clusterNetworks.map(\.description) == ["10.80.0.0/12"])
        #expect(cniError { _ = try plan(#"{"name":"n","type":"weft","clusterNetworks":["nope"]}"#) }?.msg.contains("clusterNetworks[0]") == true)
    }

    @Test func portMappingsAreValidated() throws {
        let good = try plan(
            #"{"name":"n","type":"weft","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"10.0.0.1"}]}}"#
        )
        #expect(good.portMappings.map(\.description) == ["8080/tcp -> 80", "10.0.0.1:53/udp -> 53"])
    }

    @Test(arguments: [
        (#"{"hostPort":0,"containerPort":80}"#, "hostPort 0"),
        (#"{"hostPort":65536,"containerPort":80}"#, "hostPort 65536"),
        (#"{"hostPort":-1,"containerPort":80}"#, "hostPort -1"),
        (#"{"hostPort":80,"containerPort":70000}"#, "containerPort 70000"),
        (#"{"hostPort":80,"containerPort":80,"protocol":"tcp;drop"}"#, #"protocol "tcp;drop""#),
        (#"{"hostPort":80,"containerPort":80,"hostIP":"1.2.3.4\n"}"#, #"hostIP "1.2.3.4\u{a}""#),
        (#"{"hostPort":80,"containerPort":80,"hostIP":"fd00::1"}"#, "IPv6"),
    ])
    func badPortMappingsNameTheValue(mapping: String, expected: String) {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","runtimeConfig":{"portMappings":[\#(mapping)]}}"#) }
        #expect(error?.code == 7)
        #expect(error?.msg.contains(expected) == true, "\(error?.msg ?? "")")
    }

    @Test func otherDelegateTypesAreRefused() {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","delegate":{"type":"macvlan"}}"#) }
        #expect(error?.code == 2)
        #expect(error?.msg.contains("delegate.type \"macvlan\"") == true)
    }

    @Test(arguments: [
        (#"{"subnet":"10.0.0.0/31"}"#, "subnet \"10.0.0.0/31\""),
        (#"{"subnet":"10.0.0.0/32"}"#, "subnet \"10.0.0.0/32\""),
        (#"{"subnet":"fd00::/127"}"#, "subnet \"fd00::/127\""),
        (#"{"subnet":"fd00::/128"}"#, "subnet \"fd00::/128\""),
        (#"{"subnet":"fe80::/64"}"#, "is link-local"),
        (#"{"subnet":"::ffff:10.0.0.0/120"}"#, "IPv4-mapped"),
        (#"{"subnet":"10.0.0.5/24"}"#, "has host bits set"),
        (#"{"subnet":"10.0.0.0/24","gateway":"fd00::1"}"#, "ipam.gateway \"fd00::1\""),
        (#"{"subnet":"10.0.0.0/24","gateway":"10.0.1.1"}"#, "is outside subnet"),
        (#"{"subnet":"10.0.0.0/24","gateway":"10.0.0.255"}"#, "broadcast"),
        (#"{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.50","rangeEnd":"10.0.0.10"}"#, "is after"),
    ])
    func badRangesNameTheValue(ipam: String, expected: String) {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","ipam":\#(ipam)}"#) }
        #expect(error?.code == 7)
        #expect(error?.msg.contains(expected) == true, "\(error?.msg ?? "")")
    }

    @Test func twoRangesOfOneFamilyAreRefused() {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]}}"#) }
        #expect(error?.code == 2)
    }

    @Test(arguments: [67, 65536, -1, 0])
    func mtuOutOfRange(mtu: Int) {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","delegate":{"mtu":\#(mtu)}}"#) }
        #expect(error?.code == 7)
        #expect(error?.msg.contains("mtu \(mtu)") == true)
    }

    @Test(arguments: ["a/b", "..", ".x", String(repeating: "n", count: 300)])
    func badNetworkNames(name: String) {
        let error = cniError { _ = try plan(#"{"name":"\#(name)","type":"weft"}"#) }
        #expect(error?.code == 7)
    }

    @Test func badBridgeNameIsNamed() {
        let error = cniError { _ = try plan(#"{"name":"n","type":"weft","delegate":{"bridge":"a/b"}}"#) }
        #expect(error?.msg.contains("delegate.bridge") == true)
    }

    @Test func promiscAndHairpinTogetherAreRefused() {
        #expect(cniError { _ = try plan(#"{"name":"n","type":"weft","delegate":{"promiscMode":true}}"#) }?.code == 7)
    }

    @Test func relativeDataDirIsRefused() {
        #expect(cniError { _ = try plan(#"{"name":"n","type":"weft","dataDir":"../x"}"#) }?.msg.contains("dataDir") == true)
    }
}

/// `"datapath"`: bridge (default), routed, and the keys each takes.
@Suite struct DatapathChoiceTests {
    static let base = #"{"cniVersion":"1.0.0","name":"n","type":"weft","subnet":"10.66.0.0/24""#

    @Test func theDefaultIsTheBridge() throws {
        #expect(try plan(Self.base + "}").datapath == .bridge)
    }

    @Test func routedWithAnUplink() throws {
        let resolved = try plan(Self.base + #","datapath":"routed","uplink":{"device":"eth1","gateway":"10.66.0.1"}}"#)
        #expect(resolved.datapath == .routed(uplink: Uplink(device: "eth1", gateway: IPAddress("10.66.0.1")!)))
    }

    @Test func deviceWithItsPoolAndNoMasquerade() throws {
        let resolved = try plan(Self.base + #","datapath":"device","devices":["eni1","eni2"],"isDefaultGateway":true}"#)
        #expect(resolved.datapath == .device(pool: ["eni1", "eni2"]))
        #expect(resolved.routes.map(\.destination.description) == ["0.0.0.0/0"])
        #expect(resolved.ipMasq == false)
    }

    @Test(arguments: [
        (#","datapath":"vxlan"}"#, 7, #"datapath "vxlan" is not bridge, routed or device"#),
        (#","datapath":"device"}"#, 7, #"datapath device needs "devices": the node interfaces it may hand to pods"#),
        (#","datapath":"device","devices":["eth1"],"isGateway":true}"#, 7, "isGateway is not taken by datapath device"),
        (#","datapath":"device","devices":["eth 1"]}"#, 7, #"devices[0] "eth 1" is not a valid interface name"#),
        (#","devices":["eth1"]}"#, 7, "devices is not taken by datapath bridge"),
        (#","datapath":"routed","devices":["eth1"]}"#, 7, "devices is not taken by datapath routed"),
        (#","uplink":{"device":"eth1","gateway":"10.66.0.1"}}"#, 7, "uplink is not taken by datapath bridge"),
        (#","datapath":"routed","bridge":"br1"}"#, 7, "bridge is not taken by datapath routed"),
        (#","datapath":"routed","uplink":{"device":"eth1","gateway":"fd00::1"}}"#, 7, "uplink.gateway fd00::1 is IPv6, and no range of the network is"),
        (#","datapath":"routed","uplink":{"device":"eth1/x","gateway":"10.66.0.1"}}"#, 7, #"uplink.device "eth1/x" is not a valid interface name"#),
        (
            #","datapath":"routed","uplink":{"device":"eth1","gateway":"10.66.0.1"},"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80}]}}"#,
            7, "runtimeConfig.portMappings is not taken by datapath routed with an uplink"
        ),
    ])
    func whatADatapathDoesNotTakeIsRefused(extra: String, code: Int, message: String) {
        let error = cniError { _ = try plan(Self.base + extra) }
        #expect(error?.code == code)
        #expect(error?.msg == message)
    }
}
