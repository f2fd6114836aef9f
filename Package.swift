// swift-tools-version: 6.1
import PackageDescription

// Three layers the compiler keeps apart:
//   LLMProxyCore    config, routing, access, health state, the API table,
//                   provider adapters, error dialects, byte scanners, metrics;
//                   no sockets, no NIOPosix (NIOCore's ByteBuffer is fine)
//   LLMProxyServer  channel handlers, the upstream pool, the prober, reload,
//                   the service; depends on the core, never the other way
//   llm-proxy       the CLI: argument parsing only
// Release images and the bench turn dynamic exclusivity checks off (~2% of
// the request path) with `-Xswiftc -enforce-exclusivity=unchecked` on their
// build line, and reach generic metadata through its accessors instead of
// by mangled name (`-disable-concrete-type-metadata-mangled-name-accessors`:
// a third less of the start, see README "Start"). On the build line, they
// reach the dependencies' code too; an unsafe flag here would reach only
// ours and make the package unusable as a dependency.
let package = Package(
    name: "llm-proxy",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "llm-proxy", targets: ["llm-proxy"]),
        .library(name: "LLMProxy", targets: ["LLMProxyCore", "LLMProxyServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // RS256 for Google's JWT grant (`_CryptoExtras`' RSA PKCS#1 v1.5) and SHA-256.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Traces: swift-distributed-tracing's API, swift-otel's OTLP/HTTP
        // exporter (its gRPC exporter, and gRPC with it, left out).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .target(
            name: "LLMProxyCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "LLMProxyServer",
            dependencies: [
                "LLMProxyCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "llm-proxy",
            dependencies: [
                "LLMProxyCore",
                "LLMProxyServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // A plain `swift build -c release` links the standard library,
            // Foundation and Dispatch statically too, as the image does: loading
            // them as 20 shared libraries cost ~8 ms of CPU a start (README,
            // "Start"). On the link alone `-static-stdlib` would leave
            // Foundation's C parts out; compiled into this module, whose
            // `import Foundation` then comes from the static modules, it also
            // names them (CoreFoundation, _FoundationICU, ...) for the linker.
            // Only this executable carries the flags, so the LLMProxy library
            // stays usable as a dependency.
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))],
            // Static-stdlib links get -export-dynamic from the toolchain's
            // link arguments; the runtime's start-up dladdr (of its own path)
            // then scans all 46,000 exported symbols. Nothing looks them up
            // (README, "Start").
            linkerSettings: [
                .unsafeFlags(["-static-stdlib", "-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        .target(
            name: "LLMProxyTestSupport",
            dependencies: [
                "LLMProxyCore",
                "LLMProxyServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/LLMProxyTestSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "LLMProxyTests",
            dependencies: [
                "LLMProxyCore",
                "LLMProxyServer",
                "LLMProxyTestSupport",
                // Built with the tests, so the signal and reload tests can spawn it.
                "llm-proxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
