import CoDECore
import Foundation
import FuzzSupport

@_cdecl("FuzzSafeTensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { bytes, count in
        guard let bytes else { return 0 }
        do {
            let file = try SafeTensorsFile(data: Data(bytes: bytes, count: count), source: "fuzz")
            for e in file.entries {  // every accepted tensor must be readable as its dtype family
                switch e.dtype {
                case .i64, .i32, .u8: _ = try file.integers(e.name)
                default: _ = try file.floats(e.name)
                }
            }
        } catch is SafeTensorsError {
        } catch {
            preconditionFailure("unexpected error type \(type(of: error)): \(error)")
        }
        return 0
    }
}
