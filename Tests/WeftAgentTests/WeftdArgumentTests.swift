import Testing
import WeftTestSupport

/// weftd's flags refused at start, before anything changes on the node.
@Suite struct WeftdArgumentTests {
    /// A misspelt --log-level is refused (it used to run silently at info). The control: a valid level
    /// gets past argument parsing to a later check, --backend none's.
    @Test func aMisspeltLogLevelIsRefusedAndAValidOneAccepted() throws {
        let misspelt = try run([binary("weftd"), "run", "--log-level", "debg", "--backend", "none"])
        #expect(misspelt.status != 0)
        #expect(misspelt.stderr.contains("'debg' is invalid for '--log-level"), "\(misspelt.stderr)")
        let valid = try run([binary("weftd"), "run", "--log-level", "debug", "--backend", "none"])
        #expect(valid.status == 1)
        #expect(valid.stderr.contains("--backend none leases nothing: it needs --network-policy"), "\(valid.stderr)")
    }

    /// The fixed-word flags are refused by the argument parser when misspelt, naming the flag and the
    /// word. The control: the same command with valid words reaches the later --backend none check.
    @Test(arguments: [
        (["--backend", "bogus"], "'bogus' is invalid for '--backend"),
        (["--backend", "none", "--vxlan-tx-checksum-offload", "maybe"], "'maybe' is invalid for '--vxlan-tx-checksum-offload"),
    ])
    func aMisspeltWordIsRefusedByTheParser(arguments: [String], message: String) throws {
        let misspelt = try run([binary("weftd"), "run"] + arguments)
        #expect(misspelt.status != 0)
        #expect(misspelt.stderr.contains(message), "\(misspelt.stderr)")
        let valid = try run([binary("weftd"), "run", "--backend", "none", "--vxlan-tx-checksum-offload", "off"])
        #expect(valid.status == 1)
        #expect(valid.stderr.contains("--backend none leases nothing: it needs --network-policy"), "\(valid.stderr)")
    }
}
