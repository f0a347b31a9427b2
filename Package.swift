// swift-tools-version:6.0
import PackageDescription

// Linux only: the proxy calls Glibc directly (sockets, signals, fstat, /proc), so no other platform
// is claimed here, and a build for another system stops at the #error in
// Sources/InterceptProxy/LinuxOnly.swift. Tested on Debian and Ubuntu with Swift 6.
let package = Package(
    name: "intercept-proxy",
    products: [
        .executable(name: "intercept-proxy", targets: ["intercept-proxy"]),
        .library(name: "CertForge", targets: ["CertForge"]),
        .library(name: "InterceptProxy", targets: ["InterceptProxy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // libssl/libcrypto plus a header of static inline wrappers for the macros Swift cannot import.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CNGHTTP2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        // epoll and eventfd (not in Glibc's Swift module) for the event loops' socket poller.
        .systemLibrary(name: "CLinuxEvents"),
        // A constructor that keeps OpenSSL from freeing its globals at exit under running threads.
        .target(name: "COpenSSLInit", dependencies: ["COpenSSL"]),
        // The few full-Foundation conveniences (locks, trimming) on the stdlib and Glibc, so the
        // release binary links FoundationEssentials only, without ICU (issue #15, image size).
        .target(name: "EssentialsSupport"),
        .target(
            name: "CertForge",
            dependencies: ["COpenSSL", "COpenSSLInit", "EssentialsSupport"]
        ),
        // Trust-store knowledge: per-distro and per-client fix snippets, and error-text explanations.
        .target(name: "TrustStoreGuide", dependencies: ["EssentialsSupport", "CLinuxEvents"]),
        .target(
            name: "InterceptProxy",
            dependencies: [
                "CertForge",
                "EssentialsSupport",
                "COpenSSL",
                "CNGHTTP2",
                "CLinuxEvents",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "intercept-proxy",
            dependencies: [
                "CertForge",
                "EssentialsSupport",
                "InterceptProxy",
                "TrustStoreGuide",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "forge-bench",
            dependencies: ["CertForge"],
            path: "Benchmarks/ForgeBench"
        ),
        // libFuzzer targets for the parsers (`make fuzz`, see Fuzz/README.md): built with
        // --sanitize=fuzzer --sanitize=address -DFUZZING there; a plain build makes a replay driver.
        .executableTarget(
            name: "intercept-proxy-fuzz",
            dependencies: ["InterceptProxy", "CertForge", "COpenSSL", "CNGHTTP2", "TrustStoreGuide"],
            path: "Fuzz/Targets"
        ),
        // Helpers for tests that drive real peers (openssl, curl, python3): processes, temp dirs, tool checks.
        .target(
            name: "TestSupport",
            dependencies: ["CertForge"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "CertForgeTests",
            dependencies: ["CertForge", "TestSupport"]
        ),
        .testTarget(
            name: "InterceptProxyTests",
            dependencies: ["InterceptProxy", "CertForge", "EssentialsSupport", "TestSupport"]
        ),
        .testTarget(
            name: "TrustStoreGuideTests",
            dependencies: ["TrustStoreGuide", "TestSupport"],
            exclude: ["Resources"]  // explain-corpus.json, read through #filePath
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["intercept-proxy", "CertForge", "TestSupport"],
            exclude: ["Resources"]  // flow_view_browser.py, run through #filePath
        ),
    ],
    swiftLanguageModes: [.v6]
)
