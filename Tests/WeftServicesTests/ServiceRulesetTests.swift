import Testing
import WeftAddress
import WeftServices

@Suite struct ServiceRulesetTests {
    @Test func tableName() {
        let image = ServiceRuleset.image([], node: ServiceNode(nodePortAddresses: [], clusterCIDRs: []))
        #expect(image.name == ServiceRuleset.table)
    }
}
