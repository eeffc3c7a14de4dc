import FuzzSupport

@_cdecl("FuzzJPEG_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzDecode($0, $1, .jpeg) }
}
