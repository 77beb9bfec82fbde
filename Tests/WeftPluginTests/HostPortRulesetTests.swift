import Testing
import WeftAddress
import WeftNftables
@testable import WeftPlugin

@Suite struct RulesetModelTests {
    let subnet = IPNetwork("10.244.1.0/24")!

    @Test func masqueradeSkipsTheClusterAndMulticast() {
        let rules = WeftRuleset.networkRules(network: "cbr0", subnets: [subnet], clusterNetworks: [IPNetwork("10.244.0.0/16")!], masquerade: true)
        #expect(rules.count == 2)
        #expect(rules.allSatisfy { $0.chain == "net-cbr0" })
        let masquerade = rules[1].expressions
        #expect(masquerade.contains(.cmp(.eq, .r(1), [10, 244, 1, 0])))
        #expect(masquerade.contains(.bitwise(.r(1), mask: [255, 255, 255, 0], xor: [0, 0, 0, 0])))
        #expect(masquerade.contains(.cmp(.neq, .r(2), [10, 244, 0, 0])))
        #expect(masquerade.contains(.cmp(.neq, .r(2), [224, 0, 0, 0])))
        #expect(masquerade.last == .masquerade)
    }

    @Test func withoutIPMasqOnlyHairpinIsMasqueraded() {
        let rules = WeftRuleset.networkRules(network: "cbr0", subnets: [subnet], clusterNetworks: [], masquerade: false)
        #expect(rules.count == 1)
        #expect(rules[0].expressions.first == .meta(.mark, into: .r(0)))
    }

    @Test func everyHostPortRuleRequiresALocalDestination() {
        let dnat = WeftRuleset.staticRules.filter { $0.expressions.contains { if case .dnat = $0 { return true } else { return false } } }
        #expect(dnat.count == 8)
        #expect(dnat.allSatisfy { $0.expressions.contains(.fibDestinationType(into: .r(0))) && $0.expressions.contains(.cmp(.eq, .r(0), [2, 0, 0, 0])) })
    }

    @Test func ipv6DnatUsesConsecutiveRegistersForTheConcatenation() {
        let rule = WeftRuleset.staticRules.first { $0.expressions.contains(.lookup(set: "hostips6", key: .r(0), into: .r(6))) }
        #expect(rule?.expressions.contains(.payload(.network, offset: 24, length: 16, into: .r(0))) == true)
        #expect(rule?.expressions.contains(.meta(.l4proto, into: .r(4))) == true)
        #expect(rule?.expressions.contains(.dnat(family: .v6, address: .r(6), port: .r(10))) == true)
    }

    @Test func fingerprintsDifferWhenRulesDiffer() {
        let a = WeftRuleset.networkRules(network: "n", subnets: [subnet], clusterNetworks: [], masquerade: true).fingerprinted()
        let b = WeftRuleset.networkRules(network: "n", subnets: [subnet], clusterNetworks: [], masquerade: false).fingerprinted()
        #expect(Set(a.map(\.comment)).count == 1)
        #expect(a[0].comment.hasPrefix("weft:"))
        #expect(a[0].comment != b[0].comment)
    }
}

@Suite struct HostPortElementTests {
    @Test func anyAddressMappingsKeyOnProtocolAndPort() {
        let mapping = PortMapping(proto: .udp, hostPort: 5353, containerPort: 53, hostIP: nil)
        let elements = HostPortElements.elements(for: [mapping], podAddresses: [IPAddress("10.244.1.2")!, IPAddress("fd00::2")!], owner: "o")
        #expect(elements.map(\.map) == ["hostports4", "hostports6"])
        #expect(elements[0].key == [17, 0, 0, 0, 0x14, 0xe9, 0, 0])
        #expect(elements[0].value == [10, 244, 1, 2, 0, 53, 0, 0])
        #expect(elements[1].value.count == 20)
        #expect(HostPortElements.describeKey(elements[0]) == "5353/udp")
        #expect(HostPortElements.describeValue(elements[1]) == "[fd00::2]:53")
    }

    @Test func hostIPMappingsApplyToTheirFamilyOnly() {
        let mapping = PortMapping(proto: .tcp, hostPort: 80, containerPort: 8080, hostIP: IPAddress("192.0.2.1"))
        let elements = HostPortElements.elements(for: [mapping], podAddresses: [IPAddress("10.244.1.2")!, IPAddress("fd00::2")!], owner: "o")
        #expect(elements.map(\.map) == ["hostips4"])
        #expect(HostPortElements.describeKey(elements[0]) == "192.0.2.1:80/tcp")
        let unspecified = PortMapping(proto: .tcp, hostPort: 80, containerPort: 8080, hostIP: IPAddress("0.0.0.0"))
        #expect(HostPortElements.elements(for: [unspecified], podAddresses: [IPAddress("10.244.1.2")!], owner: "o").map(\.map) == ["hostports4"])
    }

    @Test func parsesADumpedElementWithItsComment() {
        func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
            let length = 4 + value.count
            return withUnsafeBytes(of: UInt16(length)) { Array($0) } + withUnsafeBytes(of: type) { Array($0) } + value
                + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        let comment: [UInt8] = [0, 4] + Array("a/b".utf8) + [0]
        let element =
            attribute(1, attribute(1, [6, 0, 0, 0, 0x1f, 0x90, 0, 0])) + attribute(2, attribute(1, [10, 0, 0, 2, 0, 80, 0, 0]))
            + attribute(6, comment)
        let payload: [UInt8] = [1, 0, 0, 0] + attribute(3, attribute(1, element))
        let parsed = SetElementParser.elements(payload: payload).map { HostPortElement(map: "hostports4", $0) }
        #expect(parsed == [HostPortElement(map: "hostports4", key: [6, 0, 0, 0, 0x1f, 0x90, 0, 0], value: [10, 0, 0, 2, 0, 80, 0, 0], owner: "a/b")])
    }
}

extension HostPortElementTests {
    @Test func elementsNameTheirProtocol() {
        let elements = HostPortElements.elements(
            for: [
                PortMapping(proto: .udp, hostPort: 53, containerPort: 53, hostIP: IPAddress("10.0.0.1")),
                PortMapping(proto: .sctp, hostPort: 9, containerPort: 9, hostIP: nil),
            ],
            podAddresses: [IPAddress("10.244.1.2")!], owner: "o")
        #expect(elements.map { HostPortElements.proto(of: $0) } == [.udp, .sctp])
    }
}

@Suite struct RulesetGenerationTests {
    @Test func aGenerationNamesTheNetworkAndItsRules() {
        let rules = WeftRuleset.staticRules.fingerprinted()
        let key = RulesetGeneration.key(network: "cbr0", rules: rules)
        #expect(key.count == 8)
        #expect(key == RulesetGeneration.key(network: "cbr0", rules: rules), "stable")
        #expect(key != RulesetGeneration.key(network: "cbr1", rules: rules))
        #expect(key != RulesetGeneration.key(network: "cbr0", rules: Array(rules.dropLast())))
    }
}
