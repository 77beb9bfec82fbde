// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "weft",
    products: [
        .executable(name: "weft", targets: ["weft"]),
        .executable(name: "weft-ipam", targets: ["weft-ipam"]),
        .executable(name: "weftctl", targets: ["weftctl"]),
        .executable(name: "weft-fuzz", targets: ["WeftFuzz"]),
        .executable(name: "weftd", targets: ["weftd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // weftd: etcd's JSON gateway over HTTP, its /healthz and /metrics server, logs and metrics.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // weftd's run loop: its parts as services, stopped in reverse order on SIGTERM or SIGINT.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // weftd's kube backend: TLS to the API server, kubeconfig files.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Errno with readable names, file descriptors and their EINTR retry.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .target(name: "CWeftSystem"),
        .target(name: "WeftAddress"),
        .target(name: "WeftIdentity"),
        .target(name: "WeftSystem", dependencies: ["CWeftSystem", "WeftAddress", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "WeftCNI", dependencies: ["WeftAddress"]),
        .target(
            name: "WeftIPAM",
            dependencies: ["WeftAddress", "WeftIdentity", "WeftSystem", "CWeftSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(
            name: "WeftNetlink", dependencies: ["CMnl", "CWeftSystem", "WeftAddress", "WeftSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(
            name: "WeftNftables",
            dependencies: ["CNftnl", "CMnl", "WeftNetlink", "WeftAddress", "WeftIdentity", .product(name: "SystemPackage", package: "swift-system")]),
        .target(
            name: "WeftPlugin",
            dependencies: [
                "WeftCNI", "WeftIPAM", "WeftNetlink", "WeftNftables", "WeftPolicy", "WeftAddress", "WeftIdentity", "WeftSystem",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .executableTarget(name: "weft", dependencies: ["WeftPlugin"]),
        .executableTarget(name: "weft-ipam", dependencies: ["WeftPlugin"]),
        .executableTarget(
            name: "weftctl",
            dependencies: [
                "WeftIPAM", "WeftCNI", "WeftNftables", "WeftPlugin", "WeftPolicy", "WeftAgentState", "WeftServices", "WeftNetlink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // libFuzzer's target under `make fuzz`; an input replayer in ordinary builds.
        .executableTarget(name: "WeftFuzz", dependencies: ["WeftCNI", "WeftPolicyWire", "WeftNftables", "WeftPlugin", "WeftNetlink", "WeftAddress"]),
        // What the test targets share: the privileged condition, program runners, daemons.
        .target(name: "WeftTestSupport", dependencies: ["WeftNftables"], path: "Tests/WeftTestSupport"),
        .testTarget(name: "WeftAddressTests", dependencies: ["WeftAddress"]),
        .testTarget(name: "WeftIdentityTests", dependencies: ["WeftIdentity"]),
        .testTarget(name: "WeftCNITests", dependencies: ["WeftCNI", "WeftAddress"]),
        .testTarget(name: "WeftSystemTests", dependencies: ["WeftSystem", "WeftAddress"]),
        .testTarget(name: "WeftIPAMTests", dependencies: ["WeftIPAM", "WeftAddress", "WeftIdentity"]),
        .testTarget(
            name: "WeftNetlinkTests",
            dependencies: [
                "WeftTestSupport", "WeftNetlink", "WeftAddress", "WeftSystem", "CMnl",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Golden/: what nft sends for a table (scripts/nft-golden.sh), read by GoldenEncoderTests from the source tree.
        .testTarget(
            name: "WeftNftablesTests", dependencies: ["WeftTestSupport", "WeftNftables", "WeftNetlink", "WeftAddress", "WeftSystem", "CNftnl"],
            exclude: ["Golden"]),
        // weftd, the node agent: subnet leases on etcd, vxlan and host-gw between nodes.
        // What weftd writes to its state file and weftctl reads: no networking stack.
        .target(name: "WeftAgentState"),
        // What the Kubernetes and etcd clients share: newline-separated JSON streams cut into bounded
        // lines, and JSON decoded with failures that name the key, in the caller's error type.
        .target(name: "WeftJSON", dependencies: ["WeftCNI"]),
        // The Kubernetes API's client: credentials, requests, the Informer's list and watch.
        .target(
            name: "WeftKube",
            dependencies: [
                "WeftCNI", "WeftJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]),
        // etcd v3's client through its JSON gateway: KV, leases, watches, TLS and user auth.
        .target(
            name: "WeftEtcd",
            dependencies: [
                "WeftAddress", "WeftJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .testTarget(name: "WeftKubeTests", dependencies: ["WeftKube", "WeftJSON"]),
        .testTarget(name: "WeftEtcdTests", dependencies: ["WeftEtcd"]),
        .target(
            name: "WeftAgent",
            dependencies: [
                "WeftNetlink", "WeftAddress", "WeftCNI", "WeftSystem", "WeftAgentState", "WeftPolicy", "WeftNftables", "WeftServices",
                "WeftKube", "WeftEtcd", "WeftJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .executableTarget(
            name: "weftd",
            dependencies: [
                "WeftAgent", "WeftKube", "WeftEtcd", "WeftCNI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // NetworkPolicy: Kubernetes objects compiled into nftables-shaped sets, chains and verdict maps.
        .target(
            name: "WeftPolicy",
            dependencies: [
                "WeftAddress", "WeftIdentity", "WeftNftables", "WeftPolicyWire", .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Services: the API's Services and EndpointSlices planned and compiled into one nftables table.
        .target(name: "WeftServices", dependencies: ["WeftAddress", "WeftNetlink", "WeftNftables", "WeftSystem"]),
        .testTarget(name: "WeftServicesTests", dependencies: ["WeftTestSupport", "WeftServices", "WeftAddress", "WeftNftables", "WeftNetlink", "WeftSystem"]),
        // The policy socket's request and reply: no dependency, so the fuzzer can drive its parser.
        .target(name: "WeftPolicyWire"),
        .testTarget(
            name: "WeftPolicyTests",
            dependencies: [
                "WeftTestSupport", "WeftPolicy", "WeftAgent", "WeftAddress", "WeftNftables", "WeftNetlink", "WeftSystem",
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "WeftAgentTests",
            dependencies: [
                "WeftTestSupport", "WeftAgent", "WeftKube", "WeftEtcd", "WeftAddress", "WeftNetlink", "WeftSystem", "CMnl",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "WeftPluginTests",
            dependencies: ["WeftTestSupport", "WeftPlugin", "WeftCNI", "WeftAddress", "WeftIdentity", "WeftIPAM", "WeftNetlink", "WeftNftables", "WeftSystem"]),
    ],
    swiftLanguageModes: [.v6]
)
