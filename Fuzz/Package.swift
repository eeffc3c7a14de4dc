// swift-tools-version: 6.1
// libFuzzer targets for CoDEKit's decoders and readers. Not part of the main package, so
// `swift build` / `swift test` at the root never build them. Build and run with `make fuzz`
// (which passes -sanitize=fuzzer,address); see Fuzz/README.md.
import PackageDescription

let fuzzers = ["FuzzJPEG", "FuzzPNG", "FuzzWebP", "FuzzGIF", "FuzzTIFF", "FuzzBMP", "FuzzSafeTensors", "FuzzTar"]

let package = Package(
    name: "CoDEKitFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "CoDEKit", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [
            .product(name: "CoDEImage", package: "CoDEKit"), .product(name: "CoDECore", package: "CoDEKit"),
        ]),
    ] + fuzzers.map { .executableTarget(name: $0, dependencies: ["FuzzSupport"]) }
)
