// Shared driver: every fuzzer's entry point hands its test function to libFuzzer.
import CoDECore
import CoDEImage
import Foundation

public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ test: FuzzTest) -> CInt

/// Runs libFuzzer with the process arguments (SwiftPM renames each executable's `main` to
/// `<Module>_main`, so the fuzzers define that symbol and call this instead of libFuzzer's main).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ test: FuzzTest) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, test)
}

/// Limits for fuzzing: small enough that every accepted image decodes quickly.
public let fuzzLimits = ImageLimits(maxPixels: 1 << 22, maxFileBytes: 1 << 24, maxProgressiveScans: 100)

/// Decodes `bytes` when their magic bytes say `format` (other inputs return at once, so each
/// fuzzer explores one decoder). Every failure must be an ImageError; anything else traps.
public func fuzzDecode(_ bytes: UnsafePointer<UInt8>?, _ count: Int, _ format: ImageFormat) -> CInt {
    guard let bytes, count > 0 else { return 0 }
    let data = Data(bytes: bytes, count: count)
    guard ImageDecoder.format(of: data) == format else { return -1 }  // -1: not added to the corpus
    do {
        let image = try ImageDecoder.decode(data: data, source: "fuzz", limits: fuzzLimits)
        precondition(image.width * image.height <= fuzzLimits.maxPixels, "decoded past the pixel limit")
        _ = Preprocess.centerCrop(image, size: 32)
    } catch is ImageError {
    } catch {
        preconditionFailure("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
