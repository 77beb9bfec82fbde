import FoundationEssentials

#if !WEFT_FUZZ
/// Without libFuzzer (a normal build) the target replays inputs: `weft-fuzz FILE…` runs each file through
/// the fuzz entry point, so the seed corpus and every crash found become regression tests.
@main
struct Replay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
            print("ok \(path)")
        }
    }
}
#endif

#if WEFT_FUZZ
/// libFuzzer's driver, declared here because no header comes with it.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable target's entry point under this name (and points `main` at it), so
/// libFuzzer's own `main` is not used: this one hands control to libFuzzer's driver.
@_cdecl("WeftFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzOneInput)
}
#endif
