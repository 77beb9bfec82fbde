import Testing
import WeftTestSupport

/// weftd's flags refused at start, before anything changes on the node.
@Suite struct WeftdArgumentTests {
    /// A misspelt --log-level is refused (it used to run silently at info). The control: a valid level
    /// gets past argument parsing to the next check, the backend's.
    @Test func aMisspeltLogLevelIsRefusedAndAValidOneAccepted() throws {
        let misspelt = try run([binary("weftd"), "run", "--log-level", "debg", "--backend", "bogus"])
        #expect(misspelt.status != 0)
        #expect(misspelt.stderr.contains("'debg' is invalid for '--log-level"), "\(misspelt.stderr)")
        let valid = try run([binary("weftd"), "run", "--log-level", "debug", "--backend", "bogus"])
        #expect(valid.status == 1)
        #expect(valid.stderr.contains("--backend bogus: etcd, kube or none"), "\(valid.stderr)")
    }
}
