import Foundation
import Testing
import WeftCNI

/// The reference bandwidth plugin's keys: decoding (any key case, numbers kept as written) and validation.
@Suite struct BandwidthTests {
    static func limits(_ json: String, keyPrefix: String = "runtimeConfig.bandwidth") throws -> BandwidthLimits? {
        let config = try JSONDecoder().decode(BandwidthConfig.self, from: Data(json.utf8))
        return try BandwidthLimits.validate(config, keyPrefix: keyPrefix)
    }

    static func refusal(_ json: String, keyPrefix: String = "runtimeConfig.bandwidth") -> CNIError? {
        cniError { _ = try limits(json, keyPrefix: keyPrefix) }
    }

    @Test func bothDirections() throws {
        let limits = try Self.limits(#"{"ingressRate":8000000,"ingressBurst":80000,"egressRate":1000000,"egressBurst":16000}"#)
        #expect(limits?.ingress == .init(rateBitsPerSecond: 8_000_000, burstBits: 80000))
        #expect(limits?.egress == .init(rateBitsPerSecond: 1_000_000, burstBits: 16000))
        #expect(limits?.ingress?.rateBytesPerSecond == 1_000_000)
        #expect(limits?.ingress?.burstBytes == 10000)
    }

    @Test func nothingShapedIsNil() throws {
        #expect(try Self.limits("{}") == nil)
        #expect(try Self.limits(#"{"ingressRate":null,"ingressBurst":null,"somethingElse":"x"}"#) == nil)
        // go-cni writes all four keys; the direction without an annotation is all zeros.
        #expect(try Self.limits(#"{"IngressRate":0,"IngressBurst":0,"EgressRate":0,"EgressBurst":0}"#) == nil)
        #expect(try Self.limits(#"{"ingressRate":0}"#) == nil)
    }

    @Test func containerdCapabilityArgs() throws {
        // containerd's CRI: the annotation's rate, burst = math.MaxUint32 bits, zeros for the other direction.
        let limits = try Self.limits(#"{"IngressRate":10000000,"IngressBurst":4294967295,"EgressRate":0,"EgressBurst":0}"#)
        #expect(limits?.ingress == .init(rateBitsPerSecond: 10_000_000, burstBits: 4_294_967_295))
        #expect(limits?.egress == nil)
    }

    @Test func crioBurstIsTheLargestBurstButOne() throws {
        // CRI-O writes math.MaxUint32*8 - 1; the kernel takes up to 4294967295 bytes.
        #expect(try Self.limits(#"{"egressRate":1000000,"egressBurst":34359738359}"#)?.egress?.burstBytes == 4_294_967_294)
        #expect(try Self.limits(#"{"egressRate":1000000,"egressBurst":34359738367}"#)?.egress?.burstBytes == 4_294_967_295)
        let error = Self.refusal(#"{"egressRate":1000000,"egressBurst":34359738368}"#)
        #expect(error?.code == 7)
        #expect(error?.msg == "runtimeConfig.bandwidth.egressBurst 34359738368 is above 34359738367 bits")
    }

    @Test func largestRateIsUInt64() throws {
        #expect(try Self.limits(#"{"ingressRate":18446744073709551615,"ingressBurst":8}"#)?.ingress?.rateBitsPerSecond == UInt64.max)
        let error = Self.refusal(#"{"ingressRate":18446744073709551616,"ingressBurst":8}"#)
        #expect(error?.code == 7)
        #expect(error?.msg == "runtimeConfig.bandwidth.ingressRate 18446744073709551616 is too large")
    }

    @Test(arguments: [
        (#"{"ingressRate":1000}"#, "runtimeConfig.bandwidth.ingressRate 1000 is set without runtimeConfig.bandwidth.ingressBurst"),
        (#"{"ingressRate":1000,"ingressBurst":null}"#, "runtimeConfig.bandwidth.ingressRate 1000 is set without runtimeConfig.bandwidth.ingressBurst"),
        (#"{"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressBurst 1000 is set without runtimeConfig.bandwidth.egressRate"),
        (#"{"ingressRate":0,"ingressBurst":1000}"#, "runtimeConfig.bandwidth.ingressRate 0 is below 8 bits per second"),
        (#"{"ingressRate":7,"ingressBurst":1000}"#, "runtimeConfig.bandwidth.ingressRate 7 is below 8 bits per second"),
        (#"{"egressRate":1000,"egressBurst":0}"#, "runtimeConfig.bandwidth.egressBurst 0 is below 8 bits"),
        (#"{"egressRate":1000,"egressBurst":7}"#, "runtimeConfig.bandwidth.egressBurst 7 is below 8 bits"),
        (#"{"ingressRate":-1,"ingressBurst":1000}"#, "runtimeConfig.bandwidth.ingressRate -1 is negative"),
        (#"{"ingressRate":1000,"ingressBurst":-8000}"#, "runtimeConfig.bandwidth.ingressBurst -8000 is negative"),
        (#"{"ingressRate":1.5,"ingressBurst":1000}"#, "runtimeConfig.bandwidth.ingressRate 1.5 is not a whole number"),
        (
            #"{"ingressRate":1000,"ingressBurst":1000.0000000000000000001}"#,
            "runtimeConfig.bandwidth.ingressBurst 1000.0000000000000000001 is not a whole number"
        ),
        (#"{"egressRate":1e-3,"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressRate 0.001 is not a whole number"),
        (#"{"egressRate":1e30,"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressRate 1000000000000000000000000000000 is too large"),
        (#"{"egressRate":1e200,"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressRate 1e+200 is too large"),
        (#"{"egressRate":1e400,"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressRate (a number beyond 1.8e308) is too large"),
        (#"{"egressRate":"1000","egressBurst":1000}"#, #"runtimeConfig.bandwidth.egressRate "1000" is not a number"#),
        (#"{"egressRate":1000,"egressBurst":true}"#, "runtimeConfig.bandwidth.egressBurst true is not a number"),
        (#"{"egressRate":[1000],"egressBurst":1000}"#, "runtimeConfig.bandwidth.egressRate [1000] is not a number"),
    ])
    func refusals(json: String, message: String) {
        let error = Self.refusal(json)
        #expect(error?.code == 7)
        #expect(error?.msg == message)
    }

    @Test func refusalsNameTheUnprefixedKey() {
        let error = Self.refusal(#"{"ingressRate":1.5,"ingressBurst":8}"#, keyPrefix: "")
        #expect(error?.msg == "ingressRate 1.5 is not a whole number")
        #expect(error?.details.contains("bits per second") == true)
    }

    @Test func wholeNumbersWrittenOtherwiseAreWholeNumbers() throws {
        let limits = try Self.limits(#"{"ingressRate":8e6,"ingressBurst":80000.0,"egressRate":0E3,"egressBurst":-0}"#)
        #expect(limits?.ingress == .init(rateBitsPerSecond: 8_000_000, burstBits: 80000))
        #expect(limits?.egress == nil, "0E3 and -0 are 0: the direction is unshaped")
    }

    @Test(arguments: [
        #"{"IngressRate":8000,"IngressBurst":800,"EgressRate":16000,"EgressBurst":1600}"#,
        #"{"INGRESSRATE":8000,"ingressburst":800,"egressRATE":16000,"EgressBurst":1600}"#,
    ])
    func keysMatchInAnyCase(json: String) throws {
        let limits = try Self.limits(json)
        #expect(limits?.ingress == .init(rateBitsPerSecond: 8000, burstBits: 800))
        #expect(limits?.egress == .init(rateBitsPerSecond: 16000, burstBits: 1600))
    }

    @Test func oneKeyInTwoSpellingsIsRefused() {
        let error = cniError {
            _ = try JSONDecoder().decode(BandwidthConfig.self, from: Data(#"{"ingressRate":8000,"IngressRate":9000,"ingressBurst":8}"#.utf8))
        }
        #expect(error?.code == 6)
        #expect(error?.msg == #"key "ingressRate" appears twice"#)
        #expect(error?.details.contains(#""IngressRate""#) == true)
    }

    @Test func theDuplicateNamesWhereItSits() {
        struct Wrapper: Decodable { let bandwidth: BandwidthConfig }
        let error = cniError {
            _ = try JSONDecoder().decode(Wrapper.self, from: Data(#"{"bandwidth":{"egressBurst":8,"EGRESSBURST":9}}"#.utf8))
        }
        #expect(error?.code == 6)
        #expect(error?.msg == #"key "egressBurst" appears twice in bandwidth"#)
    }
}
