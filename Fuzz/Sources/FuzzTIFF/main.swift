import FuzzSupport

@_cdecl("FuzzTIFF_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzDecode($0, $1, .tiff) }
}
