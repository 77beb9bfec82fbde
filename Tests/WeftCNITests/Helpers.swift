import Foundation
import Testing
import WeftCNI

/// Runs `body` and returns the CNIError it threw, failing the test when it threw none or another error.
func cniError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CNIError? {
    do {
        try body()
        Issue.record("expected a CNIError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CNIError {
        return error
    } catch {
        Issue.record("expected a CNIError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

func decode(_ json: String) throws -> NetworkConfig {
    try NetworkConfig.decode(Data(json.utf8))
}

let flannelEnv = SubnetEnv(networks: [IPNetworkLiteral("10.244.0.0/16")], subnets: [IPNetworkLiteral("10.244.1.1/24")], mtu: 1450, ipMasq: true)

import WeftAddress
func IPNetworkLiteral(_ text: String) -> IPNetwork {
    guard let network = IPNetwork(text) else { fatalError("bad literal \(text) in a test") }
    return network
}

func plan(_ json: String, env: SubnetEnv = flannelEnv) throws -> NetworkPlan {
    try NetworkPlan.resolve(try decode(json), loadSubnetEnv: { _ in env })
}
