// swift-tools-version: 6.1
// CoDEKit: Contrastive Deepfake Embeddings (CoDE, ECCV 2024) in Swift on OpenBLAS.
import PackageDescription

let package = Package(
    name: "CoDEKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CoDEKit", targets: ["CoDEKit"]),
        .library(name: "CoDECore", targets: ["CoDECore"]),
        .library(name: "CoDEContrastive", targets: ["CoDEContrastive"]),
        .library(name: "CoDEImage", targets: ["CoDEImage"]),
        .library(name: "CoDEModel", targets: ["CoDEModel"]),
        .library(name: "CoDEAugment", targets: ["CoDEAugment"]),
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
        // MARK: Classifiers (issue 5): library, its tests, code-fit, code-detect, benchmark
        .target(name: "CoDEClassifiers", dependencies: ["CoDECore"]),
        .testTarget(name: "CoDEClassifiersTests", dependencies: ["CoDEClassifiers", "_CoDETestSupport"]),
        .executableTarget(name: "code-fit", dependencies: ["CoDEClassifiers", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Examples/code-fit"),
        .executableTarget(name: "code-detect", dependencies: ["CoDEClassifiers", "CoDECore", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Examples/code-detect"),
        .executableTarget(name: "code-bench-classifiers", dependencies: ["CoDEClassifiers", "CoDECore", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Benchmarks/classifiers", exclude: ["sklearn_peer.py"]),

        // MARK: Library modules
        .target(
            name: "CoDECore",
            dependencies: ["COpenBLAS", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "CoDEModel", dependencies: ["CoDECore"]),
        .target(name: "CCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "CoDEImage", dependencies: ["CoDECore", "CCodecs"]),
        .target(
            name: "CoDEKit",
            dependencies: ["CoDECore", "CoDEImage", "CoDEModel", "CoDEContrastive", "CoDEAugment", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "CoDEAugment", dependencies: ["CoDECore", "CoDEImage"]),
        .executableTarget(name: "code-bench-augment", dependencies: ["CoDEAugment"], path: "Benchmarks/augment"),
        .target(name: "_CoDETestSupport", dependencies: ["CoDECore"], path: "Tests/_CoDETestSupport"),
        .target(name: "CoDEContrastive", dependencies: ["CoDECore"]),

        // MARK: Example executables
        .executableTarget(
            name: "code-embed",
            dependencies: ["CoDEKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/code-embed"
        ),

        // MARK: Benchmarks
        .executableTarget(
            name: "code-bench",
            dependencies: ["CoDEKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/code-bench"
        ),

        // MARK: Tests
        .testTarget(name: "CoDEContrastiveTests", dependencies: ["CoDEContrastive", "_CoDETestSupport"]),
        .testTarget(name: "CoDECoreTests", dependencies: ["CoDECore", "_CoDETestSupport"]),
        .testTarget(name: "CoDEModelTests", dependencies: ["CoDEModel", "_CoDETestSupport"]),
        .testTarget(name: "CoDEKitTests", dependencies: ["CoDEKit", "_CoDETestSupport"]),
        .testTarget(name: "CoDEImageTests", dependencies: ["CoDEImage", "_CoDETestSupport"]),
        .testTarget(name: "CoDEAugmentTests", dependencies: ["CoDEAugment", "_CoDETestSupport"]),
    ]
)

// CoDEClassifiers product (kept out of the products list above so branches merge cleanly).
package.products.append(.library(name: "CoDEClassifiers", targets: ["CoDEClassifiers"]))
