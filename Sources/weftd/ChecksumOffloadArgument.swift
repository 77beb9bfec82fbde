import ArgumentParser
import WeftAgent

/// `--vxlan-tx-checksum-offload` parsed as WeftAgent's three words (auto, on, off): a misspelt word is
/// refused by the argument parser, and `--help` lists them.
extension TxChecksumOffload: ExpressibleByArgument {}
