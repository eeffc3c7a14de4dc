import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a tool's row output could not be opened, resumed or completed.
public struct RowSinkError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where the tools' rows go: standard output, or `FILE.partial`, renamed to `FILE` by
/// ``finish()``. Rows written before a crash or Ctrl-C stay in `FILE.partial`; `FILE` itself
/// is only ever complete.
///
/// ``write(_:)`` buffers; ``flush()`` (called by the tools at the end of every batch) hands the
/// rows to the kernel, so a killed run loses at most the batch in progress.
///
/// With `resume`, an existing `FILE.partial` is continued: a torn last line (no final newline,
/// from a run killed mid-write) is cut off, `scan` sees every complete row line (after the
/// header, which must be `header`), and new rows are appended.
///
/// With `settings`, a fresh `FILE.partial` gets a `FILE.partial.settings` (``ResumeSettings``),
/// a resumed one is checked against it first (a mismatch throws, naming the setting), and
/// ``finish()`` removes it.
public final class RowSink {
    public let path: String?
    let handle: FileHandle
    var buffer = Data()
    /// Complete row lines found in `FILE.partial` when resuming (0 otherwise).
    public private(set) var resumedRows = 0
    /// Bytes cut off the end of `FILE.partial` (a torn last line) when resuming.
    public private(set) var droppedBytes = 0
    /// The byte offset where each resumed row line ends (after its newline), and where the header ends.
    var rowEnds: [UInt64] = []
    var headerEnd: UInt64 = 0
    /// What the settings check could not check when resuming (no settings file, a setting it does
    /// not record), for the tool to print.
    public private(set) var warnings: [String] = []

    /// Opens the sink. `header` (a line with its newline, e.g. a CSV header) is written first on
    /// a fresh output and must open a resumed one.
    /// `hint` ends the error for a row `scan` refuses (what to resume with).
    public init(path: String?, header: String? = nil, resume: Bool = false, settings: ResumeSettings? = nil,
                hint: String = "resume with the --format of the interrupted run", scan: (String) throws -> Void = { _ in }) throws {
        self.path = path
        guard let path else {
            if resume { throw RowSinkError("--resume needs --output FILE (rows on standard output cannot be continued)") }
            handle = .standardOutput
            if let header { buffer.append(Data(header.utf8)) }
            return
        }
        let partial = path + ".partial"
        let fm = FileManager.default
        if resume, fm.fileExists(atPath: partial) {
            // An old partial without a settings file keeps none: what it was written with is unknown.
            if let settings { warnings = try settings.check(againstPartial: partial) }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: partial)) } catch {
                throw RowSinkError("cannot read \(partial): \(error.localizedDescription)")
            }
            // The complete lines end at the last newline; anything after it is a torn row.
            let keep = (data.lastIndex(of: 0x0A).map { $0 + 1 } ?? data.startIndex) - data.startIndex
            droppedBytes = data.count - keep
            var start = data.startIndex, first = true
            let end = data.startIndex + keep
            while start < end {
                let nl = data[start..<end].firstIndex(of: 0x0A)!
                let line = String(decoding: data[start..<nl], as: UTF8.self)
                if first, let header {
                    guard line + "\n" == header else {
                        throw RowSinkError("\(partial): its first line is not the header of this format (\(header.dropLast())); "
                            + "resume with the --format of the interrupted run")
                    }
                    headerEnd = UInt64(nl + 1 - data.startIndex)
                } else {
                    do { try scan(line) } catch {
                        throw RowSinkError("\(partial):\(resumedRows + (header == nil ? 1 : 2)): not a row of this output (\(error)); \(hint)")
                    }
                    resumedRows += 1
                    rowEnds.append(UInt64(nl + 1 - data.startIndex))
                }
                first = false
                start = nl + 1
            }
            guard let h = FileHandle(forUpdatingAtPath: partial) else { throw RowSinkError("cannot write \(partial)") }
            do {
                try h.truncate(atOffset: UInt64(keep))
                try h.seekToEnd()
            } catch { throw RowSinkError("cannot truncate \(partial): \(error.localizedDescription)") }
            handle = h
            if keep == 0, let header { buffer.append(Data(header.utf8)) }
            return
        }
        // The settings first: a partial never exists without them (a crash in between leaves
        // only a settings file, which the next run overwrites).
        try settings?.write(forPartial: partial)
        guard fm.createFile(atPath: partial, contents: nil), let h = FileHandle(forWritingAtPath: partial) else {
            throw RowSinkError("cannot write \(partial)")
        }
        handle = h
        if let header { buffer.append(Data(header.utf8)) }
    }

    /// Keeps only the first `n` resumed rows (cuts the rest off `FILE.partial`), so that the
    /// run continues at a batch boundary: a batch's scores can differ in the last bits with the
    /// batch's composition, and an uninterrupted run's batches start at multiples of the batch.
    public func keepRows(_ n: Int) throws {
        guard n < resumedRows else { return }
        let end = n == 0 ? headerEnd : rowEnds[n - 1]
        do {
            try handle.truncate(atOffset: end)
            try handle.seekToEnd()
        } catch { throw RowSinkError("cannot truncate \(path ?? "").partial: \(error.localizedDescription)") }
        resumedRows = n
        rowEnds.removeSubrange(n...)
    }

    /// Appends rows (whole lines) to the buffer.
    public func write(_ s: String) {
        buffer.append(Data(s.utf8))
        if buffer.count > 1 << 20 { flush() }
    }

    /// Writes the buffered rows (one `write(2)`).
    public func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, and renames `FILE.partial` to `FILE`.
    public func finish() throws {
        flush()
        guard let path else { return }
        do {
            try handle.synchronize()
            try handle.close()
        } catch { throw RowSinkError("cannot write \(path).partial: \(error.localizedDescription)") }
        if rename(path + ".partial", path) != 0 {
            throw RowSinkError("cannot rename \(path).partial to \(path): \(String(cString: strerror(errno)))")
        }
        ResumeSettings.remove(forPartial: path + ".partial")
    }
}

/// Resuming a row output: the rows already written must be those of the first inputs, in order.
public enum ResumeCheck {
    /// Throws unless `written` (the paths of the resumed rows, in file order) is a prefix of
    /// `inputs`.
    public static func prefix(_ written: [String], of inputs: [String], file: String) throws {
        guard written.count <= inputs.count else {
            throw RowSinkError("\(file) holds \(written.count) rows but there are only \(inputs.count) inputs: it is not a partial run of these inputs")
        }
        for (k, p) in written.enumerated() where p != inputs[k] {
            throw RowSinkError("\(file) row \(k + 1) is '\(p)' but input \(k + 1) is '\(inputs[k])': it is not a partial run of these inputs "
                + "(resume with the same inputs, in the same order)")
        }
    }

    /// The `path` field of a JSONL row line.
    public static func jsonPath(_ line: String) throws -> (path: String, fields: [String: JSONValue]) {
        var map: [String: JSONValue] = [:]
        for (k, v) in try StrictJSON.parseObject(Data(line.utf8)) { map[k] = v }
        guard case let .string(p)? = map["path"] else { throw RowSinkError("row without a \"path\": \(line.prefix(80))") }
        return (p, map)
    }
}

/// A progress line on standard error for long tools: count, rate and ETA, rewritten in place
/// (`\r`) on a terminal, a plain line every `interval` seconds otherwise (10 s; the environment
/// variable `CODEKIT_PROGRESS_SECONDS` overrides it), and a final line from ``done(errors:)``.
public final class ToolProgress {
    public let tool: String
    public let total: Int
    public let unit: String
    let start = Date()
    public private(set) var count = 0
    var last = Date.distantPast
    let tty: Bool
    let interval: Double

    public init(tool: String, total: Int, unit: String = "images", initial: Int = 0) {
        self.tool = tool
        self.total = total
        self.unit = unit
        self.tty = isatty(2) != 0
        self.interval = tty ? 0.2 : (ProcessInfo.processInfo.environment["CODEKIT_PROGRESS_SECONDS"].flatMap(Double.init) ?? 10)
        self.base = initial
        self.count = initial
        last = tty ? .distantPast : Date()
    }

    /// Inputs already done before this run (resumed), left out of the rate.
    let base: Int

    public func line(errors: Int) -> String {
        let t = Date().timeIntervalSince(start)
        let done = count - base
        let rate = t > 0 ? Double(done) / t : 0
        var s = String(format: "%@: %d/%d %@, %.1f %@/s, %d errors", tool, count, total, unit, rate, unit, errors)
        if count < total, rate > 0 {
            let eta = Int((Double(total - count) / rate).rounded())
            s += String(format: ", ETA %d:%02d:%02d", eta / 3600, eta / 60 % 60, eta % 60)
        }
        return s
    }

    public func advance(by n: Int, errors: Int) {
        count += n
        let now = Date()
        if now.timeIntervalSince(last) >= interval {
            last = now
            FileHandle.standardError.write(Data((tty ? "\r" + line(errors: errors) + "\u{1B}[K" : line(errors: errors) + "\n").utf8))
        }
    }

    /// The final line (with the elapsed time).
    public func done(errors: Int) {
        let t = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data(((tty ? "\r" : "") + line(errors: errors) + String(format: ", %.1f s", t) + (tty ? "\u{1B}[K" : "") + "\n").utf8))
    }
}

nonisolated(unsafe) private var interruptMessage: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) private var interruptLength = 0

/// Ctrl-C for the row-writing tools: SIGINT (and SIGTERM) end the process at once with status
/// 130 (143), after a note on standard error. Rows are flushed at the end of every batch, so
/// every finished row is already in `FILE.partial` (a row cut mid-write is dropped by
/// `--resume`).
public enum Interruption {
    public static func exitOnSignal(tool: String, partial: String?) {
        let msg = "\n\(tool): interrupted; " + (partial.map { "the finished rows are in \($0) (continue with --resume)" } ?? "stopped") + "\n"
        interruptMessage = strdup(msg)
        interruptLength = strlen(interruptMessage!)
        // A parent may have spawned us with these signals blocked (the mask is inherited).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            _ = write(2, interruptMessage, interruptLength)
            _exit(130)
        }
        signal(SIGTERM) { _ in
            _ = write(2, interruptMessage, interruptLength)
            _exit(143)
        }
    }
}

/// oneDNN's threads (GNU OpenMP in Debian's libdnnl) spin for a while after every parallel
/// region, on the cores the OpenBLAS and CoDEKit threads need next: with bf16 training on 2
/// cores that made the bf16 step no faster than fp32 (x0.99 against x1.75 with a passive wait
/// policy, `code-bench --bf16-training`). libgomp reads `OMP_WAIT_POLICY` once, when it is
/// loaded, so a tool that is about to use oneDNN sets it and starts itself again.
public enum OpenMPWaitPolicy {
    /// Unless `OMP_WAIT_POLICY` is already set (by the user: then it is left alone), sets it to
    /// `PASSIVE` and replaces the process by a fresh run of the same executable with the same
    /// arguments (same pid; call it before anything else, e.g. before joining an MPI job). Does
    /// nothing where the executable's path is not known (`/proc/self/exe`).
    public static func ensurePassive() {
        guard ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] == nil else { return }
        #if os(Linux)
        // exec the executable's own path (not /proc/self/exe, which would make ps, top and pkill
        // show the process as "exe").
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return }
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
        execv(path, CommandLine.unsafeArgv)
        // execv returned: it failed; carry on with the spinning default.
        #endif
    }
}
