import CoDEKit
import Foundation
import Testing

@Suite("ResumeSettings: what a partial output was written with")
struct ResumeSettingsTests {
    func partial() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.appendingPathComponent("out.csv.partial").path
    }

    func settings(batch: Int, crops: String = "five") -> ResumeSettings {
        var s = ResumeSettings()
        s.add("--batch-size", batch)
        s.add("--model (encoder SHA-256)", "ab12", key: "encoder_sha256")
        s.add("--crops", crops)
        return s
    }

    @Test("the file is a flat JSON object of strings in order; the same settings check clean")
    func roundTrip() throws {
        let p = try partial()
        try settings(batch: 32).write(forPartial: p)
        let text = try String(contentsOfFile: p + ".settings", encoding: .utf8)
        #expect(text == "{\n  \"batch-size\": \"32\",\n  \"encoder_sha256\": \"ab12\",\n  \"crops\": \"five\"\n}\n")
        #expect(try ResumeSettings.recorded(forPartial: p) == ["batch-size": "32", "encoder_sha256": "ab12", "crops": "five"])
        #expect(try settings(batch: 32).check(againstPartial: p).isEmpty)
        ResumeSettings.remove(forPartial: p)
        #expect(!FileManager.default.fileExists(atPath: p + ".settings"))
    }

    @Test("a mismatch names the setting, the old and the new value, and what to do")
    func mismatch() throws {
        let p = try partial()
        try settings(batch: 32).write(forPartial: p)
        #expect(throws: RowSinkError("\(p) was written with --batch-size 32, this run has --batch-size 16; rerun with --batch-size 32 or remove \(p)")) {
            try settings(batch: 16).check(againstPartial: p)
        }
        #expect(throws: RowSinkError("\(p) was written with --crops five, this run has --crops center; rerun with --crops five or remove \(p)")) {
            try settings(batch: 32, crops: "center").check(againstPartial: p)
        }
    }

    @Test("no settings file, or a setting it does not record (a newer flag): warnings, not errors")
    func missing() throws {
        let p = try partial()
        let w = try settings(batch: 32).check(againstPartial: p)
        #expect(w.count == 1 && w[0].contains("has no \(p).settings") && w[0].contains("--batch-size, --model (encoder SHA-256), --crops"), "\(w)")
        try settings(batch: 32).write(forPartial: p)
        var newer = settings(batch: 32)
        newer.add("--precision", "bf16")
        let w2 = try newer.check(againstPartial: p)
        #expect(w2 == ["warning: \(p).settings does not record --precision (written by an earlier version?); assuming it was --precision bf16, as in this run"])
        // With the value the tool used before the flag existed, an older file is checked against it.
        var fp32 = settings(batch: 32), bf16 = settings(batch: 32)
        fp32.add("--precision", "fp32", absentMeans: "fp32")
        bf16.add("--precision", "bf16", absentMeans: "fp32")
        #expect(try fp32.check(againstPartial: p).isEmpty)
        #expect(throws: RowSinkError("\(p) was written with --precision fp32, this run has --precision bf16; rerun with --precision fp32 or remove \(p)")) {
            try bf16.check(againstPartial: p)
        }
        try Data("[1]".utf8).write(to: URL(fileURLWithPath: p + ".settings"))
        #expect(throws: RowSinkError.self) { try settings(batch: 32).check(againstPartial: p) }
    }
}
