import Foundation
import Testing
import WeftCNI

/// Capability arguments as containerd's and CRI-O's go-cni write them: from Go structs without JSON tags,
/// so every key is capitalised. Go plugins read them because encoding/json ignores key case; Weft too.
@Suite struct CapabilityKeysTests {
    static func config(runtimeConfig: String) -> String {
        #"{"cniVersion":"1.0.0","name":"n","type":"weft","subnet":"10.244.1.0/24","runtimeConfig":\#(runtimeConfig)}"#
    }

    @Test func readsGoCNIPortMappings() throws {
        // Byte for byte what libcni hands a plugin under containerd 1.6 for a pod with one hostPort.
        let resolved = try plan(Self.config(runtimeConfig: #"{"portMappings":[{"HostPort":18080,"ContainerPort":8080,"Protocol":"tcp","HostIP":""}]}"#))
        #expect(resolved.portMappings.count == 1)
        #expect(resolved.portMappings.first?.hostPort == 18080)
        #expect(resolved.portMappings.first?.containerPort == 8080)
        #expect(resolved.portMappings.first?.proto == .tcp)
        #expect(resolved.portMappings.first?.hostIP == nil)
    }

    @Test(arguments: [
        #"{"hostPort":80,"containerPort":8080}"#, #"{"HOSTPORT":80,"containerport":8080}"#, #"{"hostport":80,"ContainerPort":8080,"protocol":"UDP"}"#,
    ])
    func anySpellingOfAKeyIsTheKey(entry: String) throws {
        let resolved = try plan(Self.config(runtimeConfig: #"{"portMappings":[\#(entry)]}"#))
        #expect(resolved.portMappings.first?.hostPort == 80)
        #expect(resolved.portMappings.first?.containerPort == 8080)
    }

    @Test func readsGoCNIIPRanges() throws {
        let resolved = try plan(
            Self.config(runtimeConfig: #"{"ipRanges":[[{"Subnet":"10.9.0.0/24","RangeStart":"10.9.0.10","RangeEnd":"10.9.0.20","Gateway":"10.9.0.1"}]]}"#))
        #expect(resolved.ranges.first?.subnet.description == "10.9.0.0/24")
        #expect(resolved.ranges.first?.first.description == "10.9.0.10")
        #expect(resolved.ranges.first?.last.description == "10.9.0.20")
        #expect(resolved.ranges.first?.gateway.description == "10.9.0.1")
    }

    @Test func readsGoCNIDNSIntoTheResult() throws {
        let resolved = try plan(
            Self.config(runtimeConfig: #"{"dns":{"Servers":["10.96.0.10"],"Searches":["default.svc.cluster.local"],"Options":["ndots:5"]}}"#))
        #expect(resolved.dns.nameservers == ["10.96.0.10"])
        #expect(resolved.dns.search == ["default.svc.cluster.local"])
        #expect(resolved.dns.options == ["ndots:5"])
    }

    @Test func aDNSServerMustBeAnAddress() {
        let error = cniError { _ = try plan(Self.config(runtimeConfig: #"{"dns":{"Servers":["kube-dns"]}}"#)) }
        #expect(error?.code == 7)
        #expect(error?.msg == #"runtimeConfig.dns.servers[0] "kube-dns" is not an IP address"#)
    }

    @Test func readsArgsCNIIPsInAnyCase() throws {
        let config = try decode(#"{"name":"n","type":"weft","args":{"CNI":{"IPs":["10.244.1.9"]}}}"#)
        #expect(config.args?.cni?.ips == ["10.244.1.9"])
    }

    @Test func twoSpellingsOfOneKeyAreRefused() {
        let error = cniError { _ = try decode(Self.config(runtimeConfig: #"{"portMappings":[{"hostPort":80,"HostPort":81,"containerPort":80}]}"#)) }
        #expect(error?.code == 6)
        #expect(error?.msg == #"key "hostPort" appears twice in runtimeConfig.portMappings[0]"#)
        #expect(error?.details.contains(#""HostPort" and "hostPort""#) == true)
    }

    @Test func unknownKeysStayIgnored() throws {
        let resolved = try plan(Self.config(runtimeConfig: #"{"portMappings":[{"HostPort":80,"ContainerPort":8080,"PodName":"x"}],"Aliases":{}}"#))
        #expect(resolved.portMappings.count == 1)
    }

    @Test func aMissingKeyIsNamedAsTheSpecSpellsIt() {
        let error = cniError { _ = try plan(Self.config(runtimeConfig: #"{"portMappings":[{"ContainerPort":8080}]}"#)) }
        #expect(error?.code == 7)
        #expect(error?.msg == "runtimeConfig.portMappings[0].hostPort is missing")
    }

    @Test func aWrongTypeNamesTheKeyAsWritten() {
        let error = cniError { _ = try plan(Self.config(runtimeConfig: #"{"portMappings":[{"HostPort":"80","ContainerPort":8080}]}"#)) }
        #expect(error?.code == 7)
        #expect(error?.msg == #"runtimeConfig.portMappings[0].HostPort must be an integer, found "80""#)
    }

    @Test func keysOutsideCapabilityArgumentsKeepTheirSpelling() throws {
        // `IPMasq` is not `ipMasq`: only what Go programs write (runtimeConfig, args.cni) is read in any case.
        let resolved = try plan(#"{"name":"n","type":"weft","subnet":"10.244.1.0/24","IPMasq":true}"#)
        #expect(resolved.ipMasq == false)
    }
}

/// DEL and GC must succeed for anything a runtime can send: what they cannot use is ignored.
@Suite struct RemovalDecodingTests {
    static func removal(_ json: String) throws -> NetworkConfig { try NetworkConfig.decode(Data(json.utf8), forRemoval: true) }

    static let unusable =
        #"{"cniVersion":"1.0.0","name":"n","type":"weft","ipam":{"dataDir":"/run/x","ranges":"nope"},"#
        + #""mtu":"1500","runtimeConfig":{"portMappings":[{"hostPort":"x"}],"ips":5},"prevResult":{"ips":[{"address":"nope"}]},"#
        + #""args":{"cni":{"ips":{}}}}"#

    @Test func removalIgnoresWhatItCannotUse() throws {
        let config = try Self.removal(Self.unusable)
        #expect(config.name == "n")
        #expect(config.ipam?.dataDir == "/run/x")
        #expect(config.runtimeConfig == nil)
        #expect(config.prevResult == nil)
        #expect(try NetworkIdentity(config).dataDir == "/run/x")
    }

    @Test func addAndCheckStillRefuseIt() {
        #expect(cniError { _ = try decode(Self.unusable) }?.code == 7)
    }

    @Test func removalIgnoresRepeatedKeysItDoesNotRead() throws {
        let config = try Self.removal(#"{"name":"n","type":"weft","runtimeConfig":{"portMappings":[],"portMappings":[]},"mtu":1,"mtu":2}"#)
        #expect(config.name == "n")
    }

    @Test func removalRefusesAnAmbiguousIdentity() {
        let error = cniError { _ = try Self.removal(#"{"name":"n","name":"m","type":"weft"}"#) }
        #expect(error?.code == 6)
        let dataDir = cniError { _ = try Self.removal(#"{"name":"n","type":"weft","ipam":{"dataDir":"/a","dataDir":"/b"}}"#) }
        #expect(dataDir?.msg == #"key "dataDir" appears twice in ipam"#)
    }
}

/// `bandwidth` in the config and in runtimeConfig, as go-cni sends it.
@Suite struct BandwidthPlanTests {
    static let base = #"{"cniVersion":"1.0.0","name":"n","type":"weft","subnet":"10.244.1.0/24""#

    @Test func goCNIBandwidthIsRead() throws {
        let resolved = try plan(Self.base + #","runtimeConfig":{"bandwidth":{"IngressRate":16000000,"IngressBurst":16000000,"EgressRate":0,"EgressBurst":0}}}"#)
        #expect(resolved.bandwidth?.ingress == .init(rateBitsPerSecond: 16_000_000, burstBits: 16_000_000))
        #expect(resolved.bandwidth?.egress == nil, "go-cni's zeros for the direction without an annotation")
    }

    @Test func theNetworksDefaultIsOverriddenDirectionByDirection() throws {
        let resolved = try plan(
            Self.base + #","bandwidth":{"ingressRate":1000,"ingressBurst":1000,"egressRate":2000,"egressBurst":2000},"#
                + #""runtimeConfig":{"bandwidth":{"ingressRate":5000,"ingressBurst":5000}}}"#)
        #expect(resolved.bandwidth?.ingress?.rateBitsPerSecond == 5000)
        #expect(resolved.bandwidth?.egress?.rateBitsPerSecond == 2000)
        #expect(try plan(Self.base + "}").bandwidth == nil)
    }

    @Test(arguments: [
        (#"{"ingressRate":8000}"#, "runtimeConfig.bandwidth.ingressRate 8000 is set without runtimeConfig.bandwidth.ingressBurst"),
        (#"{"egressRate":-1,"egressBurst":8}"#, "runtimeConfig.bandwidth.egressRate -1 is negative"),
        (#"{"egressRate":1.5,"egressBurst":8}"#, "runtimeConfig.bandwidth.egressRate 1.5 is not a whole number"),
        (#"{"egressRate":0,"egressBurst":800}"#, "runtimeConfig.bandwidth.egressRate 0 is below 8 bits per second"),
        (#"{"egressRate":800,"egressBurst":99999999999}"#, "runtimeConfig.bandwidth.egressBurst 99999999999 is above 34359738367 bits"),
        (#"{"egressRate":18446744073709551616,"egressBurst":8}"#, "runtimeConfig.bandwidth.egressRate 18446744073709551616 is too large"),
    ])
    func badValuesAreNamed(bandwidth: String, message: String) {
        let error = cniError { _ = try plan(Self.base + #","runtimeConfig":{"bandwidth":\#(bandwidth)}}"#) }
        #expect(error?.code == 7)
        #expect(error?.msg == message)
    }
}
