import ArgumentParser
import Logging

/// `--log-level` parsed as swift-log's levels: a misspelt level is refused at start ("debg" used to run
/// silently at info), and `--help` lists the seven.
extension Logger.Level: @retroactive ExpressibleByArgument {}
