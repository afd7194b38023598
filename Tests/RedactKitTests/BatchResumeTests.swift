import Foundation
import XCTest
@testable import RedactKit

/// Batches that survive (docs/batch.md), with the real `redact` executable on generated clips:
/// resume and idempotence, SIGKILL at random moments, two runs of one manifest at once, and
/// `--retry-failed` from the journal. No timing thresholds: delays only choose when to kill.
final class BatchResumeTests: TempDirectoryTestCase {
    private static var fixtureDirectory: URL?
    private static var clips: [Int: Fixtures.Clip] = [:]
    private static let lock = NSLock()

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("batch-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        clips = [:]
        super.tearDown()
    }

    /// A short clip (320x240, 15 fps, 24 frames, no audio) with face `face`, made once per class.
    static func clip(face: Int) throws -> Fixtures.Clip {
        lock.lock()
        defer { lock.unlock() }
        if let c = clips[face] { return c }
        try Fixtures.requireSetup()
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        var o = Fixtures.ClipOptions()
        o.name = "face\(face)"
        o.face = face
        o.width = 320
        o.height = 240
        o.frames = 24
        o.faceSize = 70
        o.x0 = 40
        o.y0 = 60
        o.vx = 40
        o.vy = 10
        o.audioTracks = 0
        let c = try Fixtures.makeClip(in: dir, o)
        clips[face] = c
        return c
    }

    var key: URL!

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        _ = try Fixtures.requireBinary()
        try super.setUpWithError()
        key = dir.appendingPathComponent("signing.key")
        let r = try Fixtures.redact(["keygen", "-o", key.path])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    // MARK: - Helpers

    struct JobSpec {
        var id: String
        var input: URL
        var output: URL
        var render: String? = nil
        var tracks: URL? = nil
    }

    @discardableResult
    func writeManifest(_ jobs: [JobSpec], name: String = "manifest.json") throws -> URL {
        let body = jobs.map { j in
            var s = "{\"id\": \"\(j.id)\", \"input\": \"\(j.input.path)\", \"output\": \"\(j.output.path)\""
            if let r = j.render { s += ", \"render\": \(r)" }
            if let t = j.tracks { s += ", \"tracks\": \"\(t.path)\"" }
            return s + "}"
        }.joined(separator: ",\n  ")
        let url = dir.appendingPathComponent(name)
        try Data("{\"version\": 1, \"signing_key\": \"\(key.path)\", \"jobs\": [\n  \(body)\n]}\n".utf8).write(to: url)
        return url
    }

    func events(_ r: Fixtures.ProcessResult) -> [[String: Any]] {
        r.stdoutText.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? ["unparsable": String(line)]
        }
    }

    /// job id -> the job events (not progress) it got, in order.
    func jobEvents(_ events: [[String: Any]]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for e in events {
            guard let job = e["job"] as? String, let name = e["event"] as? String, name != "progress" else { continue }
            out[job, default: []].append(name)
        }
        return out
    }

    struct FileState: Equatable {
        var inode: UInt64
        var modified: Date
        var bytes: Data
    }

    func state(_ url: URL) throws -> FileState {
        let a = try FileManager.default.attributesOfItem(atPath: url.path)
        return FileState(inode: (a[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
                         modified: a[.modificationDate] as? Date ?? .distantPast, bytes: try Data(contentsOf: url))
    }

    func assertVerifies(_ output: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let v = try Fixtures.redact(["verify", output.path, "--trusted-key", key.path + ".pub"])
        XCTAssertEqual(v.status, 0, "\(output.lastPathComponent) does not verify: \(v.stderr)", file: file, line: line)
    }

    func journalEntries(_ url: URL) throws -> [JournalEntry] {
        try Journal.read(url)
    }

    // MARK: - Resume

    /// A job that keeps a tracks.json is up to date only with that file present.
    func testJobWithATracksFileIsRedoneWhenTheFileIsMissing() throws {
        let tracks = dir.appendingPathComponent("side/a.tracks.json")
        let a = JobSpec(id: "a", input: try Self.clip(face: 0).url, output: dir.appendingPathComponent("out/a.mp4"), tracks: tracks)
        let manifest = try writeManifest([a])
        var r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tracks.path))
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_skipped"]], r.stdoutText)
        try FileManager.default.removeItem(at: tracks)
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_started", "job_done"]], r.stdoutText)
        let started = events(r).first { $0["event"] as? String == "job_started" }
        XCTAssertTrue((started?["redo"] as? String ?? "").contains("tracks file"), "\(String(describing: started))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tracks.path))
        try assertVerifies(a.output)
    }

    /// A rerun skips up-to-date jobs without touching their files; a changed configuration or a
    /// tampered output makes exactly that job run again.
    func testRerunSkipsUpToDateJobsAndRedoesOnlyChangedOrTamperedOnes() throws {
        let outDir = dir.appendingPathComponent("out")
        let a = JobSpec(id: "a", input: try Self.clip(face: 0).url, output: outDir.appendingPathComponent("a.mp4"))
        var b = JobSpec(id: "b", input: try Self.clip(face: 1).url, output: outDir.appendingPathComponent("b.mp4"))
        let manifest = try writeManifest([a, b])
        let journal = Journal.defaultURL(forManifest: manifest)
        XCTAssertEqual(journal.lastPathComponent, "manifest.json.journal.jsonl")
        let receiptA = Receipts.receiptURL(for: a.output), receiptB = Receipts.receiptURL(for: b.output)

        var r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_started", "job_done"], "b": ["job_started", "job_done"]])
        let first = [try state(a.output), try state(receiptA), try state(b.output), try state(receiptB)]

        // 1. Nothing changed: both skipped, files untouched (same bytes, inode and mtime).
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_skipped"], "b": ["job_skipped"]], r.stdoutText)
        let skipped = events(r).first { $0["event"] as? String == "job_skipped" }
        XCTAssertEqual(skipped?["input_sha256"] as? String, try FileDigest.sha256(of: a.input))
        XCTAssertEqual(skipped?["config_sha256"] as? String, ResumeCheck.configSHA256(JobConfig()))
        let batch = events(r).last
        XCTAssertEqual(batch?["event"] as? String, "batch_done")
        XCTAssertEqual(batch?["skipped"] as? Int, 2)
        XCTAssertEqual(batch?["done"] as? Int, 0)
        XCTAssertEqual([try state(a.output), try state(receiptA), try state(b.output), try state(receiptB)], first, "a skipped job rewrote a file")
        XCTAssertEqual(Fixtures.listing(outDir), ["a.mp4", "a.mp4.receipt.json", "b.mp4", "b.mp4.receipt.json"], "locks and temporaries are gone")
        // The plain progress lines say so too.
        let plain = try Fixtures.redact(["run", manifest.path])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stderrLines.contains { $0.hasPrefix("a: skipped:") }, plain.stderr)

        // 2. b's configuration changes: only b runs again.
        b.render = "{\"padding\": 0.4}"
        try writeManifest([a, b])
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_skipped"], "b": ["job_started", "job_done"]], r.stdoutText)
        let restarted = events(r).first { $0["event"] as? String == "job_started" }
        XCTAssertTrue((restarted?["redo"] as? String ?? "").contains("configuration changed"), "\(String(describing: restarted))")
        XCTAssertEqual([try state(a.output), try state(receiptA)], Array(first[0...1]), "a was touched")
        XCTAssertNotEqual(try state(b.output).inode, first[2].inode, "b's output was not replaced by rename")
        let receiptConfig = try Receipts.verify(output: b.output).predicate.config
        XCTAssertEqual(receiptConfig.render.padding, 0.4)
        try assertVerifies(a.output)
        try assertVerifies(b.output)

        // 3. One byte of a's output flipped: only a runs again, and verifies afterwards.
        let beforeTamper = try state(b.output)
        try Fixtures.flipByte(of: a.output)
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["a": ["job_started", "job_done"], "b": ["job_skipped"]], r.stdoutText)
        XCTAssertEqual(try state(b.output), beforeTamper, "b was touched")
        try assertVerifies(a.output)
        try assertVerifies(b.output)

        // The journal holds one line per outcome, in order (one job at a time: manifest order).
        let statuses = try journalEntries(journal).map { "\($0.job):\($0.status.rawValue)" }
        XCTAssertEqual(statuses, ["a:done", "b:done", "a:skipped", "b:skipped", "a:skipped", "b:skipped",
                                  "a:skipped", "b:done", "a:done", "b:skipped"])
    }

    // MARK: - SIGKILL

    /// `kill -9` at random moments never leaves an output that does not verify at a final path;
    /// a last uninterrupted run finishes every job and cleans up the dead runs' locks and temporaries.
    func testSIGKILLAtRandomMomentsNeverLeavesAnUnverifiableOutput() throws {
        let outDir = dir.appendingPathComponent("out")
        let specs = try (0..<3).map { i in
            JobSpec(id: "k\(i)", input: try Self.clip(face: i).url, output: outDir.appendingPathComponent("k\(i).mp4"))
        }
        let manifest = try writeManifest(specs)
        let bin = try Fixtures.requireBinary()
        let environment = ProcessInfo.processInfo.environment.merging(["REDACT_MODELS": Fixtures.modelsDirectory.path]) { $1 }

        func launch() throws -> Process {
            let p = Process()
            p.executableURL = bin
            p.arguments = ["run", manifest.path, "--json"]
            p.environment = environment
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            p.standardInput = FileHandle.nullDevice
            try p.run()
            return p
        }

        // How long an uninterrupted run takes here (only to spread the kills over it).
        let started = Date()
        let calibration = try launch()
        calibration.waitUntilExit()
        XCTAssertEqual(calibration.terminationStatus, 0)
        let typical = max(0.2, Date().timeIntervalSince(started))
        for s in specs {
            try FileManager.default.removeItem(at: s.output)
            try FileManager.default.removeItem(at: Receipts.receiptURL(for: s.output))
        }

        var delays: [String] = []
        var killedMidBatch = 0
        for iteration in 0..<10 {
            // Once every job is done, start over so the next kill lands in work again.
            if specs.allSatisfy({ FileManager.default.fileExists(atPath: $0.output.path) }) {
                for s in specs {
                    try FileManager.default.removeItem(at: s.output)
                    try? FileManager.default.removeItem(at: Receipts.receiptURL(for: s.output))
                }
            }
            let delay = Double.random(in: 0...typical)
            delays.append(String(format: "%.2f", delay))
            let p = try launch()
            usleep(useconds_t(delay * 1_000_000))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
            }
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { killedMidBatch += 1 }
            for s in specs where FileManager.default.fileExists(atPath: s.output.path) {
                let v = try Fixtures.redact(["verify", s.output.path, "--input", s.input.path, "--trusted-key", key.path + ".pub"])
                XCTAssertEqual(v.status, 0, "iteration \(iteration) (kill after \(delays.last!) s of \(typical) s): \(s.output.lastPathComponent) exists but does not verify: \(v.stderr)")
            }
        }

        let final = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(final.status, 0, "final run after kills at \(delays): \(final.stderr)")
        for s in specs {
            let evs = jobEvents(events(final))[s.id] ?? []
            XCTAssertTrue(evs == ["job_skipped"] || evs == ["job_started", "job_done"], "\(s.id): \(evs)")
            try assertVerifies(s.output)
        }
        // Locks of killed runs were taken over and removed; their temporaries deleted.
        XCTAssertEqual(Fixtures.listing(outDir), specs.flatMap { [$0.output.lastPathComponent, $0.output.lastPathComponent + ".receipt.json"] }.sorted(),
                       "kills at \(delays) s (\(killedMidBatch) of 10 mid-batch)")
    }

    // MARK: - Two runs at once

    /// Two `redact run` on one manifest (overlapping cron runs): each job is processed exactly once
    /// between them; the other run reports it locked or skipped.
    func testTwoConcurrentRunsProcessEachJobExactlyOnce() throws {
        let outDir = dir.appendingPathComponent("out")
        let specs = try (0..<4).map { i in
            JobSpec(id: "c\(i)", input: try Self.clip(face: i).url, output: outDir.appendingPathComponent("c\(i).mp4"))
        }
        let manifest = try writeManifest(specs)
        let journal = dir.appendingPathComponent("shared-journal.jsonl")

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var runs: [Int: Fixtures.ProcessResult] = [:]
        }
        let results = Results()
        let group = DispatchGroup()
        for k in 0..<2 {
            DispatchQueue.global().async(group: group) {
                let r = try? Fixtures.redact(["run", manifest.path, "--json", "--journal", journal.path])
                results.lock.lock()
                results.runs[k] = r
                results.lock.unlock()
            }
        }
        group.wait()
        let runs = try (0..<2).map { try XCTUnwrap(results.runs[$0], "run \($0) could not be started") }
        var doneCount: [String: Int] = [:]
        for (k, r) in runs.enumerated() {
            XCTAssertEqual(r.status, 0, "run \(k): \(r.stderr)")
            let perJob = jobEvents(events(r))
            for s in specs {
                let evs = perJob[s.id] ?? []
                XCTAssertTrue([["job_started", "job_done"], ["job_skipped"], ["job_locked"]].contains(evs), "run \(k), \(s.id): \(evs)")
                if evs.last == "job_done" { doneCount[s.id, default: 0] += 1 }
            }
        }
        for s in specs {
            XCTAssertEqual(doneCount[s.id], 1, "\(s.id) processed \(doneCount[s.id] ?? 0) times:\n\(runs[0].stdoutText)\n\(runs[1].stdoutText)")
            try assertVerifies(s.output)
        }
        let entries = try journalEntries(journal)
        for s in specs {
            XCTAssertEqual(entries.filter { $0.job == s.id && $0.status == .done }.count, 1, "journal: \(entries.map { "\($0.job):\($0.status)" })")
        }
        XCTAssertEqual(Fixtures.listing(outDir).filter { $0.hasPrefix(".") }, [], "locks or temporaries left")
    }

    // MARK: - --retry-failed

    /// A job whose input is garbage fails (exit 2, recorded in the journal) while the other
    /// completes; once the input is fixed, `--retry-failed` runs only that job.
    func testRetryFailedRunsOnlyTheJobsThatFailed() throws {
        let good = try Self.clip(face: 0)
        let broken = dir.appendingPathComponent("broken.mp4")
        try Fixtures.truncatedCopy(of: try Self.clip(face: 1).url, to: broken, fraction: 0.3)
        let outDir = dir.appendingPathComponent("out")
        let ok = JobSpec(id: "ok", input: good.url, output: outDir.appendingPathComponent("ok.mp4"))
        let bad = JobSpec(id: "bad", input: broken, output: outDir.appendingPathComponent("bad.mp4"))
        let manifest = try writeManifest([ok, bad])
        let journal = Journal.defaultURL(forManifest: manifest)

        // Nothing to retry before any run: the journal does not exist yet.
        var r = try Fixtures.redact(["run", "--retry-failed", manifest.path])
        XCTAssertEqual(r.status, 66, r.stderr)
        XCTAssertTrue(r.stderr.contains(journal.path), r.stderr)

        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["ok": ["job_started", "job_done"], "bad": ["job_started", "job_failed"]])
        XCTAssertFalse(FileManager.default.fileExists(atPath: bad.output.path))
        var entries = try journalEntries(journal)
        let failure = try XCTUnwrap(entries.first { $0.job == "bad" })
        XCTAssertEqual(failure.status, .failed)
        XCTAssertEqual(failure.exitCode, 65)
        XCTAssertTrue(failure.error?.contains(broken.path) ?? false, "\(String(describing: failure.error))")
        XCTAssertEqual(entries.first { $0.job == "ok" }?.status, .done)
        XCTAssertEqual(entries.first { $0.job == "ok" }?.inputSHA256, try FileDigest.sha256(of: good.url))

        // Fix the input; only the failed job runs.
        try FileManager.default.removeItem(at: broken)
        try FileManager.default.copyItem(at: try Self.clip(face: 1).url, to: broken)
        let okBefore = try state(ok.output)
        r = try Fixtures.redact(["run", "--retry-failed", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(jobEvents(events(r)), ["bad": ["job_started", "job_done"]], r.stdoutText)
        XCTAssertTrue(r.stderr.contains("retrying 1 failed job"), r.stderr)
        XCTAssertEqual(try state(ok.output), okBefore)
        try assertVerifies(bad.output)
        entries = try journalEntries(journal)
        XCTAssertEqual(entries.map { "\($0.job):\($0.status.rawValue)" }, ["ok:done", "bad:failed", "bad:done"])

        // Nothing failed any more: it says so and does nothing.
        r = try Fixtures.redact(["run", "--retry-failed", manifest.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("no failed jobs"), r.stderr)
        XCTAssertEqual(try journalEntries(journal).count, 3)
    }
}
