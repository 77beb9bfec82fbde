import Foundation
import Testing
import WeftTestSupport

/// Every seed and every crash `make fuzz` ever found goes through the parsers again on each run.
@Suite struct FuzzReplayTests {
    @Test func seedCorpusAndPastCrashesReplayCleanly() throws {
        let inputs = ["fuzz/corpus", "fuzz/crashes"].flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { !$0.hasPrefix(".") }.map { "\(directory)/\($0)" }
        }
        #expect(inputs.count >= 7, "the seed corpus is there")
        let replay = try runProgram(TestNode.debugBinary("weft-fuzz"), inputs.sorted())
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.split(separator: "\n").count == inputs.count)
    }
}
