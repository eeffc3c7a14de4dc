// swift-tools-version: 6.1
// CoDEKit: Contrastive Deepfake Embeddings (CoDE, ECCV 2024) in Swift on OpenBLAS.
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "CoDEKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CoDEKit", targets: ["CoDEKit"]),
        .library(name: "CoDECore", targets: ["CoDECore"]),
        .library(name: "CoDEImage", targets: ["CoDEImage"]),
        .library(name: "CoDEModel", targets: ["CoDEModel"]),
        .library(name: "CoDEAugment", targets: ["CoDEAugment"]),
        .library(name: "CoDEContrastive", targets: ["CoDEContrastive"]),
        .library(name: "CoDEClassifiers", targets: ["CoDEClassifiers"]),
        .library(name: "CoDEDistributed", targets: ["CoDEDistributed"]),
        .library(name: "CoDEMPI", targets: ["CoDEMPI"]),
        .executable(name: "code-embed", targets: ["code-embed"]),
        .executable(name: "code-train", targets: ["code-train"]),
        .executable(name: "code-fit", targets: ["code-fit"]),
        .executable(name: "code-detect", targets: ["code-detect"]),
        .executable(name: "code-calibrate", targets: ["code-calibrate"]),
        .executable(name: "code-eval", targets: ["code-eval"]),
        .library(name: "CoDEServe", targets: ["CoDEServe"]),
        .executable(name: "code-serve", targets: ["code-serve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // code-serve (issue 26): HTTP service, Prometheus /metrics through swift-metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: System and C libraries (Debian -dev packages; the Makefile installs them)
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // oneDNN 2.6; only CoDEOneDNN wraps it: the bf16/int8 inference layers and bf16 training (CoDEModel), code-bench-bf16.
        .systemLibrary(name: "COneDNN", providers: [.apt(["libdnnl-dev"])]),
        // Open MPI for data-parallel training; only CoDEMPI (and the tools) link it.
        .systemLibrary(
            name: "COpenMPI",
            pkgConfig: "ompi",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        // setjmp-based error handling of libjpeg/libpng/giflib/libtiff/libwebp must live in C.
        .target(name: "CCodecs", linkerSettings: ["jpeg", "png16", "webp", "webpdemux", "gif", "tiff"].map { .linkedLibrary($0) }),

        // The hot element-wise and row kernels, compiled for AVX-512, AVX2+FMA and baseline x86-64
        // and dispatched at run time (see Sources/CKernels/kernels.c).
        .target(name: "CKernels", exclude: ["kernels_impl.h"]),

        // MARK: Library modules
        .target(name: "CoDECore", dependencies: ["COpenBLAS", "CKernels", logging]),
        .target(name: "CoDEImage", dependencies: ["CoDECore", "CCodecs", logging]),
        .target(name: "CoDEModel", dependencies: ["CoDECore", "CoDEOneDNN"]),
        .target(name: "CoDEAugment", dependencies: ["CoDECore", "CoDEImage"]),
        .target(name: "CoDEContrastive", dependencies: ["CoDECore"]),
        .target(name: "CoDEClassifiers", dependencies: ["CoDECore"]),
        .target(name: "CoDEDistributed"),
        .target(name: "CoDEMPI", dependencies: ["CoDEDistributed", "COpenMPI"]),
        .target(
            name: "CoDEKit",
            dependencies: ["CoDECore", "CoDEImage", "CoDEModel", "CoDEAugment", "CoDEContrastive", "CoDEClassifiers", "CoDEDistributed", logging],
            resources: [.copy("Resources/DefaultModel")]
        ),
        .target(
            name: "CoDEServe",
            dependencies: ["CoDEKit", "CoDEClassifiers", "CoDEImage", "CoDECore", logging,
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            resources: [.copy("Resources/web")]
        ),
        .target(name: "_CoDETestSupport", dependencies: ["CoDECore"], path: "Tests/_CoDETestSupport"),

        // MARK: Example executables
        .executableTarget(name: "code-embed", dependencies: ["CoDEKit", "CoDEMPI", argumentParser], path: "Examples/code-embed"),
        .executableTarget(name: "code-train", dependencies: ["CoDEKit", "CoDEMPI", argumentParser], path: "Examples/code-train"),
        .executableTarget(name: "code-fit", dependencies: ["CoDEKit", "CoDEClassifiers", argumentParser], path: "Examples/code-fit"),
        .executableTarget(name: "code-detect", dependencies: ["CoDEKit", "CoDEMPI", "CoDEClassifiers", "CoDECore", argumentParser], path: "Examples/code-detect"),
        .executableTarget(name: "code-calibrate", dependencies: ["CoDEKit", "CoDEClassifiers", argumentParser], path: "Examples/code-calibrate"),
        .executableTarget(name: "code-eval", dependencies: ["CoDEKit", "CoDEClassifiers", argumentParser], path: "Examples/code-eval"),
        .executableTarget(name: "code-serve", dependencies: ["CoDEServe", "CoDEKit", argumentParser], path: "Examples/code-serve"),

        // MARK: Benchmarks
        .executableTarget(name: "code-bench", dependencies: ["CoDEKit", "CoDEOneDNN", argumentParser], path: "Benchmarks/code-bench"),
        .executableTarget(
            name: "code-bench-classifiers", dependencies: ["CoDEClassifiers", "CoDECore", argumentParser],
            path: "Benchmarks/classifiers", exclude: ["sklearn_peer.py"]
        ),
        .executableTarget(
            name: "code-bench-images", dependencies: ["CoDEImage", argumentParser],
            path: "Benchmarks/images", exclude: ["pillow_peer.py", "pil_checksums.py", "RESULTS.md", "results"]
        ),
        .target(name: "CoDEOneDNN", dependencies: ["COneDNN", "CoDECore"]),
        .executableTarget(name: "code-bench-bf16", dependencies: ["CoDECore", "CoDEOneDNN"], path: "Benchmarks/bf16"),
        .executableTarget(name: "code-bench-augment", dependencies: ["CoDEAugment"], path: "Benchmarks/augment"),
        .executableTarget(name: "code-bench-distributed", dependencies: ["CoDEKit", "CoDEMPI", argumentParser], path: "Benchmarks/distributed"),

        // MARK: Tests
        .testTarget(name: "CoDECoreTests", dependencies: ["CoDECore", "_CoDETestSupport"]),
        .testTarget(name: "CoDEImageTests", dependencies: ["CoDEImage", "_CoDETestSupport"]),
        .testTarget(name: "CoDEModelTests", dependencies: ["CoDEModel", "_CoDETestSupport"]),
        .testTarget(name: "CoDEAugmentTests", dependencies: ["CoDEAugment", "_CoDETestSupport"]),
        .testTarget(name: "CoDEContrastiveTests", dependencies: ["CoDEContrastive", "_CoDETestSupport"]),
        .testTarget(name: "CoDEClassifiersTests", dependencies: ["CoDEClassifiers", "_CoDETestSupport"]),
        .testTarget(name: "CoDEOneDNNTests", dependencies: ["CoDEOneDNN", "CoDECore", "_CoDETestSupport"]),
        .testTarget(name: "CoDEKitTests", dependencies: ["CoDEKit", "_CoDETestSupport"]),
        .testTarget(
            name: "CoDEServeTests",
            dependencies: ["CoDEServe", "CoDEKit", "_CoDETestSupport", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
    ]
)
