import CoDEImage
import Foundation
import FuzzSupport

@_cdecl("FuzzTar_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { bytes, count in
        guard let bytes else { return 0 }
        do {
            let tar = try TarArchive(data: Data(bytes: bytes, count: count), source: "fuzz")
            for m in tar.members { precondition(m.offset >= 0 && m.size >= 0 && m.offset + m.size <= count, "member outside the archive") }
        } catch is DatasetError {
        } catch {
            preconditionFailure("unexpected error type \(type(of: error)): \(error)")
        }
        return 0
    }
}
