import Foundation
import WeftPlugin

// Read one byte past the cap so an oversized config is detected without reading all of it.
let input = FileHandle.standardInput.readData(ofLength: Plugin.maxInputBytes + 1)
let outcome = Plugin.run(environment: ProcessInfo.processInfo.environment, input: input)
FileHandle.standardOutput.write(outcome.output)
if !outcome.output.isEmpty { FileHandle.standardOutput.write(Data("\n".utf8)) }
exit(outcome.status)
