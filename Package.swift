// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "weft",
    products: [
        .executable(name: "weft", targets: ["weft"]),
    ],
    targets: [
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .target(name: "CSystem"),
        .target(name: "WeftAddress"),
        .target(name: "WeftCNI", dependencies: ["WeftAddress"]),
        .target(name: "WeftIPAM", dependencies: ["WeftAddress", "CSystem"]),
        .target(name: "WeftNetlink", dependencies: ["CMnl", "CSystem", "WeftAddress"]),
        .target(name: "WeftPlugin", dependencies: ["WeftCNI", "WeftIPAM", "WeftNetlink", "WeftAddress"]),
        .executableTarget(name: "weft", dependencies: ["WeftPlugin"]),
        .testTarget(name: "WeftAddressTests", dependencies: ["WeftAddress"]),
        .testTarget(name: "WeftCNITests", dependencies: ["WeftCNI", "WeftAddress"]),
        .testTarget(name: "WeftIPAMTests", dependencies: ["WeftIPAM", "WeftAddress"]),
        .testTarget(name: "WeftNetlinkTests", dependencies: ["WeftNetlink", "WeftAddress", "CMnl"]),
        .testTarget(name: "WeftPluginTests", dependencies: ["WeftPlugin", "WeftCNI", "WeftAddress"]),
    ],
    swiftLanguageModes: [.v5]
)
