import Foundation
#if canImport(Testing)
import Testing
#endif

/// Privileged tests need root (network namespaces, nftables, traffic control). Outside CI a non-root
/// run skips them; with CI=true they always run, so a missing privilege fails loudly instead of
/// passing silently.
public enum Privileged {
    public static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

// `swift build` (the release build too) compiles this target, where the testing library is not on the
// module path: the trait exists only where test targets use it.
#if canImport(Testing)
extension Trait where Self == ConditionTrait {
    /// The condition every privileged suite carries: `@Suite(.privileged)`; its name tells a reader
    /// that the suite needs root.
    public static var privileged: Self { .enabled(if: Privileged.available, "needs root (network namespaces)") }
}
#endif

/// A test's own failure with its reason, for what `#require` cannot express.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
