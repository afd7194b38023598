import Foundation
import RedactKit

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDraw = Date.distantPast
    private let started = Date()
    private let lock = NSLock()

    init(label: String) { self.label = label }

    func update(_ done: Int, of total: Int?) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let fps = Double(done) / max(0.001, now.timeIntervalSince(started))
        var line = "\r\(label) \(done)"
        if let total, total > 0 {
            let width = 30
            let filled = min(width, done * width / total)
            line += "/\(total) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        }
        line += String(format: " %.1f fps ", fps)
        Console.error(line)
    }

    func finish() {
        if enabled { Console.error("\r\u{1B}[K") }
    }
}

/// Turns batch events into a progress display (terminal) or JSON lines (--json).
final class BatchReporter: @unchecked Sendable {
    private let json: Bool
    private var bars: [String: ProgressBar] = [:]

    init(json: Bool) { self.json = json }

    /// A line for the user on stderr (in both modes: --json keeps stdout for events).
    func note(_ text: String) {
        Console.error("redact: \(text)\n")
    }

    func handle(_ event: BatchEvent) {
        if json {
            emitJSON(event)
            return
        }
        switch event {
        case .jobStarted(let id, _, let redo):
            if let redo { Console.error("\(id): redoing: \(redo)\n") }
            bars[id] = ProgressBar(label: id)
        case .progress(let p):
            bars[p.jobID]?.update(p.framesDone, of: p.framesExpected)
        case .jobDone(let r):
            bars[r.id]?.finish()
            if let note = r.tracksNote { Console.error("\(r.id): \(note)\n") }
            if let note = r.videoNote { Console.error("\(r.id): warning: \(note)\n") }
            if let warning = r.counts.damageWarning { Console.error("\(r.id): warning: \(warning)\n") }
            Console.error("\(r.id): done: \(r.output) (\(r.counts.frames) frames, \(r.counts.redactedBoxes) boxes redacted, \(String(format: "%.1f", r.framesPerSecond)) fps); receipt \(r.receipt)\n")
        case .jobSkipped(let s):
            Console.error("\(s.id): skipped: \(s.output) is up to date (receipt of \(s.receiptCreated) verifies; same input, configuration, models and tool version)\n")
        case .jobLocked(let id, _, let lock, let holder):
            Console.error("\(id): locked: left to \(holder?.description ?? "another process") (\(lock))\n")
        case .jobFailed(let id, let error):
            bars[id]?.finish()
            Console.error("redact: job \(id) failed: \(error)\n")
        case .journalFailed(let error):
            Console.error("redact: \(error)\n")
        case .batchDone(let done, let failed, let skipped, let locked):
            var line = "\(done) done, \(skipped) skipped, \(failed) failed"
            if locked > 0 { line += ", \(locked) left to another run" }
            Console.error(line + "\n")
        }
    }

    private func emitJSON(_ event: BatchEvent) {
        var object: [String: Any]
        switch event {
        case .jobStarted(let id, let input, let redo):
            object = ["event": "job_started", "job": id, "input": input]
            if let redo { object["redo"] = redo }
        case .progress(let p):
            // One line per 25 frames keeps the stream readable.
            guard p.framesDone % 25 == 0 else { return }
            object = ["event": "progress", "job": p.jobID, "frames": p.framesDone]
            if let t = p.framesExpected { object["frames_expected"] = t }
        case .jobDone(let r):
            let counts = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(r.counts))) ?? [:]
            object = ["event": "job_done", "job": r.id, "input": r.input, "output": r.output, "receipt": r.receipt,
                      "input_sha256": r.inputSHA256, "counts": counts, "seconds": r.seconds, "fps": r.framesPerSecond]
            if let note = r.tracksNote { object["tracks"] = note }
            if let note = r.videoNote { object["video_streams"] = note }
        case .jobSkipped(let s):
            object = ["event": "job_skipped", "job": s.id, "output": s.output, "receipt": s.receipt,
                      "input_sha256": s.inputSHA256, "config_sha256": s.configSHA256, "receipt_created": s.receiptCreated]
        case .jobLocked(let id, let output, let lock, let holder):
            object = ["event": "job_locked", "job": id, "output": output, "lock": lock]
            if let holder { object["holder"] = ["pid": Int(holder.pid), "host": holder.host, "started": holder.started] }
        case .jobFailed(let id, let error):
            object = ["event": "job_failed", "job": id, "error": error.description, "exit_code": Int(error.exitCode)]
        case .journalFailed(let error):
            object = ["event": "journal_failed", "error": error.description, "exit_code": Int(error.exitCode)]
        case .batchDone(let done, let failed, let skipped, let locked):
            object = ["event": "batch_done", "done": done, "failed": failed, "skipped": skipped, "locked": locked]
        }
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            Console.output(data + Data("\n".utf8))
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP: the first one (of any) cancels the running work cleanly (temporary
/// outputs removed, locks released, the job journalled as interrupted, exit code 3); a second one
/// exits 3 at once.
///
/// SIGHUP is what a job gets when the terminal it was started from goes away (an SSH session
/// dropping): by default it killed the process like SIGKILL, with no journal entry for the job.
/// A SIGHUP that was ignored when redact started (`nohup`) stays ignored: that job was asked to
/// outlive its terminal, and does (what it would print there is dropped, see `Console`).
enum SignalTrap {
    private static var sources: [DispatchSourceSignal] = []
    private static let lock = NSLock()
    private static var seen = false

    static func install() {
        var signals = [SIGINT, SIGTERM]
        if !isIgnored(SIGHUP) { signals.append(SIGHUP) }
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                lock.lock()
                let again = seen
                seen = true
                lock.unlock()
                if again {
                    // No unwinding: a temporary output may stay behind (hidden, never at a final
                    // path); the next run over the same outputs removes it.
                    Console.error("redact: second signal; stopped at once\n")
                    _exit(ExitCode.interrupted.rawValue)
                }
                let name = sig == SIGHUP ? "hung up" : "interrupted"
                Console.error("redact: \(name); stopping (again to stop at once)\n")
                Cancellation.shared.cancel()
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Whether `sig`'s disposition, as inherited, is to ignore it.
    private static func isIgnored(_ sig: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(sig, nil, &current) == 0 else { return false }
        // SIG_IGN is the handler address 1 (signal.h); Swift cannot compare C function pointers.
        return current.__sigaction_handler.sa_handler.map { unsafeBitCast($0, to: Int.self) } == 1
    }
}
