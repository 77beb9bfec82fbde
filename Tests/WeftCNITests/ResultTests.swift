import Foundation
import Testing
import WeftCNI

@Suite struct ResultTests {
    let result = CNIResult(
        interfaces: [
            .init(name: "cni0", mac: "0a:58:0a:f4:01:01"), .init(name: "veth1", mac: "aa:bb:cc:dd:ee:ff"),
            .init(name: "eth0", mac: "0a:58:0a:f4:01:02", sandbox: "/run/netns/p", mtu: 1450),
        ],
        ips: [
            .init(address: IPNetworkLiteral("10.244.1.2/24"), gateway: IPNetworkLiteral("10.244.1.1/32").address, interface: 2),
            .init(address: IPNetworkLiteral("fd00::2/64"), gateway: IPNetworkLiteral("fd00::1/128").address, interface: 2),
        ],
        routes: [.init(destination: IPNetworkLiteral("10.244.0.0/16"), gateway: IPNetworkLiteral("10.244.1.1/32").address)])

    func object(_ version: String) throws -> [String: Any] {
        let version = try #require(CNIVersion(version))
        return try #require(try JSONSerialization.jsonObject(with: result.json(for: version)) as? [String: Any])
    }

    @Test(arguments: ["0.1.0", "0.2.0"])
    func legacyShapeHasIP4AndIP6(version: String) throws {
        let json = try object(version)
        #expect(json["cniVersion"] as? String == version)
        let ip4 = try #require(json["ip4"] as? [String: Any])
        #expect(ip4["ip"] as? String == "10.244.1.2/24")
        #expect(((ip4["routes"] as? [[String: Any]])?.first?["dst"]) as? String == "10.244.0.0/16")
        #expect((json["ip6"] as? [String: Any])?["ip"] as? String == "fd00::2/64")
        #expect(json["interfaces"] == nil)
    }

    @Test(arguments: ["0.3.0", "0.3.1", "0.4.0"])
    func richShapeCarriesIPVersion(version: String) throws {
        let json = try object(version)
        let ips = try #require(json["ips"] as? [[String: Any]])
        #expect(ips.map { $0["version"] as? String } == ["4", "6"])
        #expect(ips.first?["interface"] as? Int == 2)
        #expect((json["interfaces"] as? [[String: Any]])?.count == 3)
        #expect(((json["interfaces"] as? [[String: Any]])?.last?["mtu"]) == nil)
    }

    @Test(arguments: ["1.0.0", "1.1.0"])
    func oneDotXDropsIPVersion(version: String) throws {
        let json = try object(version)
        let ips = try #require(json["ips"] as? [[String: Any]])
        #expect(ips.allSatisfy { $0["version"] == nil })
        let mtu = (json["interfaces"] as? [[String: Any]])?.last?["mtu"] as? Int
        #expect(mtu == (version == "1.1.0" ? 1450 : nil))
    }

    @Test func errorJSONCarriesCodeMessageAndVersion() throws {
        let data = CNIError(.invalidConfig, "mtu 5 is out of range", details: "expected 68 to 65535").json(cniVersion: "0.3.1")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["code"] as? Int == 7)
        #expect(json["msg"] as? String == "mtu 5 is out of range")
        #expect(json["details"] as? String == "expected 68 to 65535")
        #expect(json["cniVersion"] as? String == "0.3.1")
    }

    @Test func versionInfoListsAllVersions() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: VersionInfo(cniVersion: .latest).json) as? [String: Any])
        #expect((json["supportedVersions"] as? [String])?.count == 7)
    }
}
