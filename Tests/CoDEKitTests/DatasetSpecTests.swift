import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

@Suite struct DatasetSpecTests {
    static let shared = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/data")

    /// The shared data's own counts (its README) through each spec form.
    @Test func sharedDataForms() throws {
        try #require(FileManager.default.fileExists(atPath: Self.shared.path), "shared/data is beside the checkout in CI and here")
        let val = try DatasetSpec.open(Self.shared.appendingPathComponent("photos/val").path)
        #expect(val.realCount == 140 && val.fakeCount == 162)
        let manifest = try DatasetSpec.open(Self.shared.appendingPathComponent("photos/manifest.csv").path + "#val")
        #expect(manifest.realCount == 140 && manifest.fakeCount == 162)
        #expect(Set(manifest.samples.compactMap(\.generator)).contains("SD1.4"))
        let d3 = try DatasetSpec.open(Self.shared.appendingPathComponent("d3-sample").path)
        #expect(d3.realCount == 1 && d3.fakeCount == 4)
        let both = try DatasetSpec.open(Self.shared.appendingPathComponent("photos/val").path + "," + Self.shared.appendingPathComponent("d3-sample/elsa_v2-0000.tar").path)
        #expect(both.count == 302 + 5)
    }

    @Test func clearErrors() {
        #expect(throws: DatasetSpec.Invalid.self) { try DatasetSpec.open("/nonexistent/x") }
        #expect(throws: DatasetSpec.Invalid.self) { try DatasetSpec.open(Fixtures.url("model/tiny-io.safetensors").path) }
        #expect(throws: DatasetSpec.Invalid.self) { try DatasetSpec.open(Fixtures.root.path) }
    }
}
