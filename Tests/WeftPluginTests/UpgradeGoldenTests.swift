import Foundation
import Testing
import WeftAddress
import WeftNftables
@testable import WeftPlugin

/// What an upgraded plugin must find again in a table an earlier one wrote: the generation key of a
/// network's rules (a changed key rewrites every node's table on the next ADD; a changed map definition
/// makes that rewrite fail with EEXIST) and the hostPort elements' bytes (DEL finds a pod's elements by
/// key and tag). Pinned values, the same as the release before the nftables layer was redesigned.
@Suite struct UpgradeGoldenTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func theGenerationOfAFlannelNetworkStaysTheSame() {
        let rules =
            (WeftRuleset.staticRules
            + WeftRuleset.networkRules(
                network: "cbr0", subnets: [IPNetwork("10.244.1.0/24")!], clusterNetworks: [IPNetwork("10.244.0.0/16")!],
                masquerade: true)).fingerprinted()
        #expect(Self.hex(RulesetGeneration.key(network: "cbr0", rules: rules)) == "d3c5cce29a741217")
    }

    @Test func theHostPortMapsAndElementsStayTheSame() {
        let maps = WeftRuleset.maps.map { map -> String in
            let data: String
            switch map.data {
            case .value(let type, let length)?: data = "value \(type)/\(length)"
            case .verdict?: data = "verdict"
            case nil: data = "none"
            }
            return "\(map.name) key \(map.keyType)/\(map.keyLength) interval \(map.interval) data \(data)"
        }
        #expect(
            maps == [
                "hostports4 key 781/8 interval false data value 461/8",
                "hostips4 key 29453/12 interval false data value 461/8",
                "hostports6 key 781/8 interval false data value 525/20",
                "hostips6 key 33549/24 interval false data value 525/20",
            ])
        let elements = HostPortElements.elements(
            for: [
                PortMapping(proto: .tcp, hostPort: 8080, containerPort: 80, hostIP: nil),
                PortMapping(proto: .udp, hostPort: 53, containerPort: 5353, hostIP: IPAddress("10.0.0.1")),
            ],
            podAddresses: [IPAddress("10.244.1.2")!, IPAddress("fd00:10:244:1::2")!], owner: "cbr0/abc/eth0")
        let text = elements.map { "\($0.map) \(Self.hex($0.key)) \(Self.hex($0.value)) \($0.owner)" }.joined(separator: "\n")
        #expect(
            text == """
                hostports4 060000001f900000 0af4010200500000 cbr0/abc/eth0
                hostports6 060000001f900000 fd00001002440001000000000000000200500000 cbr0/abc/eth0
                hostips4 0a0000011100000000350000 0af4010214e90000 cbr0/abc/eth0
                """)
    }
}
