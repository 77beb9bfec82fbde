// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "weft",
    products: [
        .executable(name: "weft", targets: ["weft"]),
        .executable(name: "weft-ipam", targets: ["weft-ipam"]),
        .executable(name: "weftctl", targets: ["weftctl"]),
        .executable(name: "weft-fuzz", targets: ["WeftFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .target(name: "CWeftSystem"),
        .target(name: "WeftAddress"),
        .target(name: "WeftIdentity"),
        .target(name: "WeftSystem"),
        .target(name: "WeftCNI", dependencies: ["WeftAddress"]),
        .target(name: "WeftIPAM", dependencies: ["WeftAddress", "WeftIdentity", "WeftSystem", "CWeftSystem"]),
        .target(name: "WeftNetlink", dependencies: ["CMnl", "CWeftSystem", "WeftAddress", "WeftSystem"]),
        .target(name: "WeftNftables", dependencies: ["CNftnl", "CMnl", "WeftNetlink", "WeftAddress", "WeftIdentity"]),
        .target(name: "WeftPlugin", dependencies: ["WeftCNI", "WeftIPAM", "WeftNetlink", "WeftNftables", "WeftAddress", "WeftIdentity", "WeftSystem"]),
        .executableTarget(name: "weft", dependencies: ["WeftPlugin"]),
        .executableTarget(name: "weft-ipam", dependencies: ["WeftPlugin"]),
        .executableTarget(name: "weftctl", dependencies: [
            "WeftIPAM", "WeftCNI", "WeftNftables", "WeftPlugin", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer's target under `make fuzz`; an input replayer in ordinary builds.
        .executableTarget(name: "WeftFuzz", dependencies: ["WeftCNI"]),
        .testTarget(name: "WeftAddressTests", dependencies: ["WeftAddress"]),
        .testTarget(name: "WeftIdentityTests", dependencies: ["WeftIdentity"]),
        .testTarget(name: "WeftCNITests", dependencies: ["WeftCNI", "WeftAddress"]),
        .testTarget(name: "WeftIPAMTests", dependencies: ["WeftIPAM", "WeftAddress", "WeftIdentity"]),
        .testTarget(name: "WeftNetlinkTests", dependencies: ["WeftNetlink", "WeftAddress", "CMnl"]),
        .testTarget(name: "WeftNftablesTests", dependencies: ["WeftNftables", "WeftNetlink", "WeftAddress"]),
        .testTarget(name: "WeftPluginTests", dependencies: ["WeftPlugin", "WeftCNI", "WeftAddress", "WeftIdentity", "WeftIPAM", "WeftNetlink", "WeftNftables", "WeftSystem"]),
    ],
    swiftLanguageModes: [.v5]
)
