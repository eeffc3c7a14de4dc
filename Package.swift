// swift-tools-version: 6.1
// CoDEKit: Contrastive Deepfake Embeddings (CoDE, ECCV 2024) in Swift on OpenBLAS.
import PackageDescription

let package = Package(
    name: "CoDEKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CoDECore", targets: ["CoDECore"]),
        .library(name: "CoDEImage", targets: ["CoDEImage"]),
        .executable(name: "code-bench-images", targets: ["code-bench-images"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // MARK: System libraries (Debian -dev packages; the Makefile installs them)
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),

        // MARK: Library modules
        .target(
            name: "CoDECore",
            dependencies: ["COpenBLAS", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "CCodecs", linkerSettings: ["jpeg", "png16", "webp", "webpdemux", "gif", "tiff"].map { .linkedLibrary($0) }),
        .target(name: "CoDEImage", dependencies: ["CoDECore", "CCodecs", .product(name: "Logging", package: "swift-log")]),
        .target(name: "_CoDETestSupport", dependencies: ["CoDECore"], path: "Tests/_CoDETestSupport"),

        .executableTarget(name: "code-bench-images", dependencies: ["CoDEImage", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Benchmarks/images", exclude: ["pillow_peer.py", "pil_checksums.py", "RESULTS.md", "results"]),

        // MARK: Tests
        .testTarget(name: "CoDECoreTests", dependencies: ["CoDECore", "_CoDETestSupport"]),
        .testTarget(name: "CoDEImageTests", dependencies: ["CoDEImage", "_CoDETestSupport"]),
    ]
)
