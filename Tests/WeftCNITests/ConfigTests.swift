import Foundation
import Testing
import WeftCNI

@Suite struct ConfigDecodingTests {
    /// The plugin entry of kube-flannel.yml's conflist with only `type` changed, as libcni hands it to the plugin.
    static let flannel = #"{"cniVersion":"0.3.1","name":"cbr0","type":"weft","delegate":{"hairpinMode":true,"isDefaultGateway":true}}"#

    @Test func decodesTheStockFlannelEntry() throws {
        let config = try decode(Self.flannel)
        #expect(config.name == "cbr0")
        #expect(config.delegate?.hairpinMode == true)
        #expect(config.delegate?.isDefaultGateway == true)
    }

    @Test(arguments: ["", "not json", #"{"name":"#, "[1,2]", "null"])
    func refusesWhatIsNotAJSONObject(text: String) {
        #expect(cniError { _ = try decode(text) }?.code == 6)
    }

    @Test func wrongTypesNameTheKeyAndValue() {
        let mtu = cniError { _ = try decode(#"{"name":"n","type":"weft","delegate":{"mtu":"1500"}}"#) }
        #expect(mtu?.code == 7)
        #expect(mtu?.msg == #"delegate.mtu must be an integer, found "1500""#)
        let masq = cniError { _ = try decode(#"{"name":"n","type":"weft","ipMasq":"yes"}"#) }
        #expect(masq?.msg == #"ipMasq must be a boolean, found "yes""#)
    }

    @Test func missingNameOrTypeIsNamed() {
        #expect(cniError { _ = try decode(#"{"type":"weft"}"#) }?.msg == "name is missing")
        #expect(cniError { _ = try decode(#"{"name":"n"}"#) }?.msg == "type is missing")
    }

    @Test func readsPrevResult() throws {
        let config = try decode(
            #"""
            {"cniVersion":"1.0.0","name":"n","type":"weft","prevResult":{"cniVersion":"1.0.0",
             "interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/p"}],
             "ips":[{"address":"10.244.1.2/24","gateway":"10.244.1.1","interface":2}],
             "routes":[{"dst":"0.0.0.0/0","gw":"10.244.1.1"}]}}
            """#)
        let result = try #require(config.prevResult?.result)
        #expect(result.ips.first?.address.description == "10.244.1.2/24")
        #expect(result.routes.first?.gateway?.description == "10.244.1.1")
    }

    @Test func malformedPrevResultIsAConfigError() {
        let error = cniError { _ = try decode(#"{"name":"n","type":"weft","prevResult":{"ips":[{"address":"nope"}]}}"#) }
        #expect(error?.code == 7)
        #expect(error?.msg.contains("prevResult") == true)
    }
}

@Suite struct SubnetEnvTests {
    @Test func parsesFlanneldOutput() throws {
        let env = try SubnetEnv.parse(
            """
            FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16
            FLANNEL_SUBNET=10.244.1.1/24
            FLANNEL_IPV6_NETWORK=fd00:10:244::/56
            FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64
            FLANNEL_MTU=1450
            FLANNEL_IPMASQ=true
            """)
        #expect(env.networks.map(\.description) == ["10.244.0.0/16", "10.245.0.0/16", "fd00:10:244::/56"])
        #expect(env.subnets.map(\.description) == ["10.244.1.1/24", "fd00:10:244:1::1/64"])
        #expect(env.mtu == 1450)
        #expect(env.ipMasq == true)
    }

    @Test func namesTheBadLine() {
        let error = cniError { _ = try SubnetEnv.parse("FLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=big\n") }
        #expect(error?.code == 7)
        #expect(error?.msg.contains(#"FLANNEL_MTU has an invalid value "big""#) == true)
    }

    @Test func needsASubnet() {
        #expect(cniError { _ = try SubnetEnv.parse("FLANNEL_NETWORK=10.244.0.0/16\n") }?.msg.contains("no FLANNEL_SUBNET") == true)
    }

    @Test func missingFileIsAnIOError() {
        #expect(cniError { _ = try SubnetEnv.load(path: "/nonexistent/subnet.env") }?.code == 5)
    }

    /// What weftd writes, the plugin reads back unchanged: one type owns the format both ways.
    @Test func whatIsWrittenReadsBack() throws {
        let written = SubnetEnv(
            network: IPNetworkLiteral("10.244.0.0/16"), subnet: IPNetworkLiteral("10.244.3.0/24"), mtu: 1430,
            ipv6: (IPNetworkLiteral("fd00:244::/56"), IPNetworkLiteral("fd00:244:0:3::/64")))
        #expect(written.subnets.map(\.description) == ["10.244.3.1/24", "fd00:244:0:3::1/64"], "the gateways")
        #expect(try SubnetEnv.parse(written.text) == written)
        let ipv4Only = SubnetEnv(network: IPNetworkLiteral("10.244.0.0/16"), subnet: IPNetworkLiteral("10.244.3.0/24"), mtu: 1450)
        #expect(try SubnetEnv.parse(ipv4Only.text) == ipv4Only)
    }
}

/// Tests/CHECKLIST.md item 3: duplicate keys and keys differing only in case.
@Suite struct DuplicateKeyTests {
    @Test func aRepeatedKeyIsRefusedByName() {
        let error = cniError { _ = try decode(#"{"name":"n","type":"weft","delegate":{"ipMasq":false,"mtu":1400,"ipMasq":true}}"#) }
        #expect(error?.code == 6)
        #expect(error?.msg == #"key "ipMasq" appears twice in delegate"#)
    }

    @Test func anEscapedSpellingIsTheSameKey() {
        #expect(cniError { _ = try decode(#"{"name":"n","type":"weft","n\u0061me":"m"}"#) }?.msg == #"key "name" appears twice"#)
    }

    @Test func theSameKeyInSiblingObjectsIsFine() throws {
        let config = try decode(#"{"name":"n","type":"weft","ipam":{"routes":[{"dst":"10.0.0.0/8"},{"dst":"10.1.0.0/16"}]},"delegate":{"mtu":1400}}"#)
        #expect(config.ipam?.routes?.count == 2)
    }

    @Test func keysAreCaseSensitive() {
        #expect(cniError { _ = try decode(#"{"NAME":"n","type":"weft"}"#) }?.msg == "name is missing")
    }
}

extension DuplicateKeyTests {
    @Test func theLocationSkipsEmptyObjects() {
        let error = cniError { _ = try decode(#"{"name":"n","type":"weft","dns":{},"ipam":{"ranges":[[{"subnet":"10.0.0.0/24","subnet":"10.1.0.0/24"}]]}}"#) }
        #expect(error?.msg == #"key "subnet" appears twice in ipam.ranges"#)
    }
}
