import Foundation
import Testing
import WeftTestSupport

/// Runs `arguments[0]` to completion with `input` on stdin, a plain PATH and `environment`.
@discardableResult
func run(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> ProgramResult {
    var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    env.merge(environment) { $1 }
    return try runProgram(arguments[0], Array(arguments.dropFirst()), input: input, environment: env)
}

/// The debug (or WEFT_BIN's) build of one of the package's executables.
func binary(_ name: String) -> String {
    let environment = ProcessInfo.processInfo.environment
    if name == "weftd", let weftd = environment["WEFTD_BIN"] { return weftd }
    if let weft = environment["WEFT_BIN"] {
        let beside = URL(fileURLWithPath: weft).deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return ".build/debug/\(name)"
}
