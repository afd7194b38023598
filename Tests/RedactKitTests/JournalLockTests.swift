import Foundation
import XCTest
@testable import RedactKit

/// The pieces of resumable batches that need no media: job locks, stale temporaries, the journal.
final class JournalLockTests: TempDirectoryTestCase {
    // MARK: - JobLock

    func testLockIsExclusiveNamesItsHolderAndIsRemovedOnRelease() throws {
        let output = dir.appendingPathComponent("sub/out.mp4")
        let lockURL = JobLock.lockURL(for: output)
        XCTAssertEqual(lockURL.lastPathComponent, ".out.mp4.lock")
        guard case .acquired(let first) = try JobLock.tryAcquire(output: output, jobID: "j1") else {
            return XCTFail("a free lock was not acquired")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: lockURL.path), "the output directory and lock file are created")
        // flock locks belong to the open file description: a second open, even in this process, is refused.
        guard case .heldByOther(let holder) = try JobLock.tryAcquire(output: output, jobID: "j1") else {
            first.release()
            return XCTFail("a held lock was acquired twice")
        }
        XCTAssertEqual(holder?.pid, getpid())
        XCTAssertEqual(holder?.job, "j1")
        first.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: lockURL.path), "release removes the lock file")
        guard case .acquired(let second) = try JobLock.tryAcquire(output: output, jobID: "j1") else {
            return XCTFail("a released lock was not acquired again")
        }
        second.release()
    }

    /// A lock file left by a dead process (no flock held on it) is simply taken.
    func testLeftoverLockFileWithoutHolderIsTaken() throws {
        let output = dir.appendingPathComponent("out.mp4")
        try Data("{\"pid\": 999999, \"host\": \"gone\", \"started\": \"2020-01-01T00:00:00Z\", \"job\": \"x\"}\n".utf8)
            .write(to: JobLock.lockURL(for: output))
        guard case .acquired(let lock) = try JobLock.tryAcquire(output: output, jobID: "x") else {
            return XCTFail("a stale lock file blocked the job")
        }
        let holder = try JSONDecoder().decode(LockHolder.self, from: Data(contentsOf: lock.url))
        XCTAssertEqual(holder.pid, getpid(), "the new holder is written into the file")
        lock.release()
    }

    /// A link planted at a lock's name (an adversarial review's finding: `ln -s
    /// ../evidence/original.mp4 .OUT.mp4.lock`) made the lock truncate the file it pointed at
    /// and write the holder's JSON into it. A symbolic link, or a hard link to another name, is
    /// refused as a lock (`.output`, naming it) and the file it points at is left as it was.
    func testALockIsNeverTakenThroughALinkToAnotherFile() throws {
        let victim = dir.appendingPathComponent("evidence/original.mp4")
        try FileManager.default.createDirectory(at: victim.deletingLastPathComponent(), withIntermediateDirectories: true)
        let bytes = Data((0..<4096).map { UInt8($0 % 251) })
        try bytes.write(to: victim)
        let output = dir.appendingPathComponent("out/o.mp4")
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        let lockURL = JobLock.lockURL(for: output)

        try FileManager.default.createSymbolicLink(at: lockURL, withDestinationURL: victim)
        XCTAssertThrowsError(try JobLock.tryAcquire(output: output, jobID: "o")) { error in
            XCTAssertTrue("\(error)".contains("is a symbolic link"), "\(error)")
            XCTAssertEqual((error as? RedactError)?.exitCode, 73)
        }
        XCTAssertEqual(try Data(contentsOf: victim), bytes, "the file the link names was written through")

        try FileManager.default.removeItem(at: lockURL)
        XCTAssertEqual(link(victim.path, lockURL.path), 0)
        XCTAssertThrowsError(try JobLock.tryAcquire(output: output, jobID: "o")) { error in
            XCTAssertTrue("\(error)".contains("not a file of its own"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: victim), bytes, "the file the hard link names was written through")
    }

    func testStalePartialsOfDeadWritersAreRemovedOthersKept() throws {
        let output = dir.appendingPathComponent("out.mp4")
        // A pid that certainly belonged to a process that has exited.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = p.processIdentifier
        let names = [
            ".out.mp4.partial-\(dead)-abc",             // dead writer: removed
            ".out.mp4.receipt.json.partial-\(dead)-def", // dead writer of the receipt: removed
            ".out.mp4.partial-\(getpid())-123",         // this process: kept
            ".out.mp4.partial-1-456",                   // a live process (pid 1): kept
            ".other.mp4.partial-\(dead)-789",           // another output: kept
            "out.mp4",
        ]
        for n in names { try Data("x".utf8).write(to: dir.appendingPathComponent(n)) }
        let removed = JobLock.removeStalePartials(of: output, before: Date().addingTimeInterval(5))
        XCTAssertEqual(removed, [".out.mp4.partial-\(dead)-abc", ".out.mp4.receipt.json.partial-\(dead)-def"])
        XCTAssertEqual(Fixtures.listing(dir), names.dropFirst(2).sorted())
        // Written after the lock was taken: not stale, kept.
        try Data("x".utf8).write(to: dir.appendingPathComponent(".out.mp4.partial-\(dead)-new"))
        XCTAssertEqual(JobLock.removeStalePartials(of: output, before: Date().addingTimeInterval(-60)), [])
    }

    // MARK: - Journal

    func testJournalAppendsLinesSurvivesATornLineAndFindsLatestFailures() throws {
        let url = dir.appendingPathComponent("m.json.journal.jsonl")
        XCTAssertEqual(Journal.defaultURL(forManifest: dir.appendingPathComponent("m.json")), url)
        do {
            let j = try Journal(url: url)
            try j.append(JournalEntry(job: "a", status: .failed, output: "/o/a.mp4", error: "a.mp4: not usable as video: x", exitCode: 65))
            try j.append(JournalEntry(job: "b", status: .done, output: "/o/b.mp4", inputSHA256: String(repeating: "0", count: 64)))
        }
        // A run killed in the middle of a line.
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"job\": \"c\", \"stat".utf8))
        try handle.close()
        do {
            let j = try Journal(url: url)
            try j.append(JournalEntry(job: "c", status: .failed, error: "boom", exitCode: 70))
            try j.append(JournalEntry(job: "b", status: .failed, error: "later failure", exitCode: 66))
            try j.append(JournalEntry(job: "b", status: .locked, reason: "held by pid 1"))
            try j.append(JournalEntry(job: "a", status: .skipped))
        }
        let lines = String(decoding: try Data(contentsOf: url), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 8, "6 entries, the torn line on its own, a final newline")
        let entries = try Journal.read(url)
        XCTAssertEqual(entries.map { "\($0.job):\($0.status.rawValue)" }, ["a:failed", "b:done", "c:failed", "b:failed", "b:locked", "a:skipped"])
        XCTAssertEqual(entries[0].exitCode, 65)
        XCTAssertEqual(entries[0].pid, getpid())
        // Latest outcome per job, locked entries ignored; in the order asked, unknown jobs left out.
        XCTAssertEqual(Journal.failedJobs(in: entries, among: ["a", "b", "c", "d"]), ["b", "c"])
        XCTAssertThrowsError(try Journal.read(dir.appendingPathComponent("none.jsonl"))) { error in
            XCTAssertEqual((error as? RedactError)?.exitCode, 66)
        }
    }

    func testConfigDigestFollowsTheEffectiveConfiguration() {
        var changed = JobConfig()
        XCTAssertEqual(ResumeCheck.configSHA256(JobConfig()), ResumeCheck.configSHA256(changed))
        changed.render.padding = 0.4
        XCTAssertNotEqual(ResumeCheck.configSHA256(JobConfig()), ResumeCheck.configSHA256(changed))
        XCTAssertEqual(ResumeCheck.configSHA256(JobConfig()).count, 64)
    }
}
