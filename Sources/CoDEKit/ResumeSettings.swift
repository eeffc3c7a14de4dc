import CoDECore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a row output's rows depend on (batch size, encoder and classifier digests, threshold,
/// crops, ...), recorded in `FILE.partial.settings` when `FILE.partial` is started and checked
/// by `--resume`, so that a partial is never continued with settings that would give other rows.
///
/// A tool lists its settings in order, one ``add(_:_:key:)`` call each, e.g.
/// `settings.add("--batch-size", batchSize)`; a new flag that changes the rows is one more line.
/// The file is a flat JSON object of strings (`{"batch-size": "32", ...}`), written atomically.
public struct ResumeSettings: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// The JSON key (the flag without its dashes, unless given).
        public let key: String
        /// How the setting reads in a message: `--batch-size`, `--model with SHA-256`.
        public let label: String
        public let value: String
        /// The value a settings file that does not record this setting stands for (the
        /// behaviour before the flag existed), or nil: then a missing entry is only warned about.
        public let absentMeans: String?
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Adds a setting: `label` as the user gives it (a flag such as `--batch-size`, or a phrase
    /// such as `encoder SHA-256`), `value` as text; `key` defaults to `label` without leading dashes.
    /// A setting added after settings files were first written gives `absentMeans`, the value the
    /// tool used before, so that an older file is checked against it (`--precision` with
    /// `absentMeans: "fp32"`).
    public mutating func add(_ label: String, _ value: some CustomStringConvertible, key: String? = nil, absentMeans: String? = nil) {
        let k = key ?? String(label.drop { $0 == "-" }).replacingOccurrences(of: " ", with: "_")
        precondition(!entries.contains { $0.key == k }, "setting \(k) added twice")
        entries.append(Entry(key: k, label: label, value: value.description, absentMeans: absentMeans))
    }

    /// The settings file of a partial output.
    public static func file(ofPartial partial: String) -> String { partial + ".settings" }

    /// The file's text: one JSON object, keys in ``entries`` order.
    public var json: String {
        "{\n" + entries.map { "  \(StrictJSON.quote($0.key)): \(StrictJSON.quote($0.value))" }.joined(separator: ",\n") + "\n}\n"
    }

    /// Writes `FILE.partial.settings` atomically.
    public func write(forPartial partial: String) throws {
        let file = Self.file(ofPartial: partial)
        do { try AtomicFile.write(Data(json.utf8), to: URL(fileURLWithPath: file)) } catch {
            throw RowSinkError("cannot write \(file): \(error)")
        }
    }

    /// Reads the settings recorded for `partial`: nil when there is no settings file (a partial
    /// from an earlier version).
    public static func recorded(forPartial partial: String) throws -> [String: String]? {
        let file = Self.file(ofPartial: partial)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        var out: [String: String] = [:]
        do {
            for (k, v) in try StrictJSON.parseObject(data) {
                guard case let .string(s) = v else { throw RowSinkError("\"\(k)\" is not a string") }
                out[k] = s
            }
        } catch {
            throw RowSinkError("\(file) is not a settings file (\(error)); remove \(partial) and \(file) to start again")
        }
        return out
    }

    /// Checks this run's settings against those recorded for `partial`. Throws naming the first
    /// setting that differs, with both values; returns warnings for what could not be checked
    /// (no settings file, or a setting the file does not record and that has no `absentMeans`).
    public func check(againstPartial partial: String) throws -> [String] {
        guard let old = try Self.recorded(forPartial: partial) else {
            return ["warning: \(partial) has no \(Self.file(ofPartial: partial)) (written by an earlier version?); resuming without checking "
                + "that it was written with the same " + entries.map(\.label).joined(separator: ", ")]
        }
        var warnings: [String] = []
        for e in entries {
            guard let v = old[e.key] ?? e.absentMeans else {
                warnings.append("warning: \(Self.file(ofPartial: partial)) does not record \(e.label) (written by an earlier version?); "
                    + "assuming it was \(e.label) \(e.value), as in this run")
                continue
            }
            if v != e.value {
                throw RowSinkError("\(partial) was written with \(e.label) \(v), this run has \(e.label) \(e.value); "
                    + "rerun with \(e.label) \(v) or remove \(partial)")
            }
        }
        return warnings
    }

    /// Removes the settings file of `partial` (when the output is complete), if there is one.
    public static func remove(forPartial partial: String) {
        unlink(file(ofPartial: partial))
    }
}

extension ResumeSettings {
    /// The settings a ``Detector``'s rows depend on: batch size (a batch's scores can differ in
    /// the last bits with its composition), the encoder's and the classifier's SHA-256, the
    /// classifier as named, the threshold in force and the crop layout.
    public static func detector(_ d: Detector, model: ModelDirectory, classifier: String, batchSize: Int) throws -> ResumeSettings {
        var s = ResumeSettings()
        s.add("--batch-size", batchSize)
        s.add("--model (encoder SHA-256)", try EncoderIdentity.sha256(modelAt: model.url), key: "encoder_sha256")
        s.add("--classifier", classifier)
        s.add("--classifier (SHA-256)", try SHA256.hex(ofFile: model.classifierURL(classifier)), key: "classifier_sha256")
        s.add("--threshold", d.threshold.map { "\($0)" } ?? "(the classifier's own)")
        s.add("--crops", d.embedder.crops.rawValue)
        s.add("--precision", d.embedder.precision.rawValue, absentMeans: "fp32")
        return s
    }
}
