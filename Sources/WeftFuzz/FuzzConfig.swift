import FoundationEssentials
import WeftCNI
import WeftPolicyWire

/// libFuzzer entry point (`make fuzz`): one input is a network config on stdin (and a policy-socket
/// request line) and, after the first NUL byte if any, a CNI_ARGS string; an input whose first byte has
/// its top bit set also sizes a hostPort transaction (FuzzNftBatch). Every path a runtime can feed must end in a value or a CNIError:
/// a crash, a trap or a hang here is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    let split = bytes.firstIndex(of: 0) ?? bytes.count
    let config = Data(bytes[0..<split])
    let args = split < bytes.count ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : ""

    fuzzNftBatch(bytes)
    // weftd's policy socket reads one request line of these bytes.
    _ = PolicyRequest.parse(config)
    _ = try? CNIArgs(args)
    _ = try? CNIEnvironment(["CNI_COMMAND": "ADD", "CNI_CONTAINERID": args, "CNI_NETNS": "/" + args, "CNI_IFNAME": args, "CNI_ARGS": args])
    _ = try? SubnetEnv.parse(String(decoding: config, as: UTF8.self))
    // DEL and GC read what they use and ignore the rest: that path must hold up too.
    _ = (try? NetworkConfig.decode(config, forRemoval: true)).flatMap { try? NetworkIdentity($0) }
    guard let decoded = try? NetworkConfig.decode(config) else { return 0 }
    _ = try? CNIVersion.negotiate(decoded.cniVersion)
    let env = try? SubnetEnv.parse(args.isEmpty ? "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n" : args)
    if let plan = try? NetworkPlan.resolve(
        decoded,
        loadSubnetEnv: { _ in
            guard let env else { throw CNIError(.ioFailure, "no subnet") }
            return env
        })
    {
        _ = plan.ranges.map(\.description)
    }
    _ = try? IPAMPlan.resolve(decoded)
    if let cniArgs = try? CNIArgs(args) { _ = try? RequestedAddresses.resolve(decoded, args: cniArgs) }
    if let result = decoded.prevResult?.result {
        for version in CNIVersion.supported { _ = result.json(for: version) }
    }
    return 0
}
