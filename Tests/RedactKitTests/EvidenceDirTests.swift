import Foundation
import XCTest
@testable import RedactKit

/// Evidence directories (manifest `evidence_dirs`) and empty inputs, through the real `redact`.
final class EvidenceDirTests: TempDirectoryTestCase {
    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    private func key() throws -> URL { try Fixtures.makeKey(in: dir) }

    /// A short real clip (640x360, 10 frames, one face).
    private func clip() throws -> URL {
        var o = Fixtures.ClipOptions()
        o.name = "evidence-clip"
        o.frames = 10
        return try Fixtures.makeClip(in: dir, o).url
    }

    /// Every file below `root`, relative paths, sorted.
    private func tree(_ root: URL) -> [String] {
        let e = FileManager.default.enumerator(atPath: root.path)
        return (e?.allObjects as? [String] ?? []).sorted()
    }

    /// An evidence directory holding one real clip named `name`, and its listing before a run.
    private func evidence(holding name: String) throws -> (directory: URL, input: URL, before: [String]) {
        let evidence = dir.appendingPathComponent("evidence")
        try FileManager.default.createDirectory(at: evidence, withIntermediateDirectories: true)
        let input = evidence.appendingPathComponent(name)
        try FileManager.default.moveItem(at: clip(), to: input)
        return (evidence, input, tree(evidence))
    }

    func testOutputInsideAnEvidenceDirectoryIsRefusedByNameWhenTheManifestIsRead() throws {
        let (evidence, _, before) = try self.evidence(holding: "bwc-0001.mp4")
        let manifest = dir.appendingPathComponent("m.json")
        try Data("""
            {"version": 1, "evidence_dirs": ["evidence"],
             "jobs": [{"id": "a", "input": "evidence/bwc-0001.mp4", "output": "evidence/redacted/bwc-0001.mp4"}]}
            """.utf8).write(to: manifest)
        let r = try Fixtures.redact(["run", manifest.path, "--key", try key().path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("$.jobs[0].output") && r.stderr.contains("evidence directory"), r.stderr)
        XCTAssertEqual(tree(evidence), before, "nothing may be created inside the evidence directory")
    }

    func testOutputReachingAnEvidenceDirectoryThroughASymlinkFailsTheJobAndCreatesNothingThere() throws {
        let (evidence, input, before) = try self.evidence(holding: "bwc-0002.mp4")
        // "out" looks like an ordinary directory but is a link into the evidence.
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("out"), withDestinationURL: evidence)
        let good = dir.appendingPathComponent("good/bwc-0002.mp4")
        let manifest = dir.appendingPathComponent("m.json")
        try Data("""
            {"version": 1, "evidence_dirs": ["\(evidence.path)"],
             "jobs": [{"id": "sneaky", "input": "\(input.path)", "output": "out/sub/bwc-0002.mp4"},
                      {"id": "fine", "input": "\(input.path)", "output": "\(good.path)"}]}
            """.utf8).write(to: manifest)
        let r = try Fixtures.redact(["run", manifest.path, "--key", try key().path, "--journal", dir.appendingPathComponent("j.jsonl").path])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("sneaky") && r.stderr.contains("evidence directory"), r.stderr)
        XCTAssertEqual(tree(evidence), before, "no lock, directory or temporary file inside the evidence directory")
        // The rest of the batch is done.
        XCTAssertEqual(try Fixtures.redact(["verify", good.path, "--input", input.path]).status, 0)
    }

    /// The journal is written too: never inside an evidence directory, not even its folder.
    func testJournalInsideAnEvidenceDirectoryIsRefusedAndCreatesNothingThere() throws {
        let (evidence, input, before) = try self.evidence(holding: "bwc-0003.mp4")
        let manifest = dir.appendingPathComponent("m.json")
        let output = dir.appendingPathComponent("out/bwc-0003.mp4")
        try Data("""
            {"version": 1, "evidence_dirs": ["evidence"], "jobs": [{"id": "a", "input": "\(input.path)", "output": "\(output.path)"}]}
            """.utf8).write(to: manifest)
        let journal = evidence.appendingPathComponent("logs/j.jsonl")
        let r = try Fixtures.redact(["run", manifest.path, "--key", try key().path, "--journal", journal.path])
        XCTAssertEqual(r.status, 73, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(journal.path) && r.stderr.contains("evidence directory"), r.stderr)
        XCTAssertEqual(tree(evidence), before, "no journal and no folder for it inside the evidence directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func testZeroLengthInputFailsNamingTheFileAndLeavesNothing() throws {
        let empty = dir.appendingPathComponent("empty.mp4")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        let out = dir.appendingPathComponent("outdir/empty-redacted.mp4")
        let manifest = dir.appendingPathComponent("m.json")
        try Data("""
            {"version": 1, "jobs": [{"id": "empty", "input": "\(empty.path)", "output": "\(out.path)"}]}
            """.utf8).write(to: manifest)
        let r = try Fixtures.redact(["run", manifest.path, "--key", try key().path, "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        let failed = r.stdoutText.split(separator: "\n").first { $0.contains("\"job_failed\"") } ?? ""
        XCTAssertTrue(failed.contains(empty.path) && failed.contains("\"exit_code\":65"), String(failed))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(tree(out.deletingLastPathComponent()).filter { !$0.hasSuffix(".lock") }, [], "temporary files left")
    }
}
