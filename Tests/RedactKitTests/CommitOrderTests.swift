import Foundation
import XCTest
@testable import RedactKit

/// The output reaches its final path only with its receipt: a job that cannot sign leaves
/// nothing at the output path.
final class CommitOrderTests: TempDirectoryTestCase {
    /// A 15-frame clip, and its output path in an empty directory `out`.
    func shortClip(_ name: String) throws -> (clip: Fixtures.Clip, outDir: URL, output: URL) {
        var o = Fixtures.ClipOptions()
        o.name = name
        o.frames = 15
        let clip = try Fixtures.makeClip(in: dir, o)
        let outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        return (clip, outDir, outDir.appendingPathComponent("\(name).redacted.mp4"))
    }

    func testJobThatCannotWriteItsReceiptLeavesNoOutput() throws {
        let (clip, outDir, output) = try shortClip("short")
        // A directory where the receipt should go: renaming the receipt over it must fail.
        let blocker = Receipts.receiptURL(for: output)
        try FileManager.default.createDirectory(at: blocker.appendingPathComponent("occupied"), withIntermediateDirectories: true)

        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: SigningKey.generate())
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: clip.url, output: output))) { error in
            guard case .output = error as? RedactError else { return XCTFail("expected an output error, got \(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output committed without a receipt")
        XCTAssertEqual(Fixtures.listing(outDir), [blocker.lastPathComponent], "only the blocking directory remains")

        // With the way clear, the same job commits both, and the receipt verifies.
        try FileManager.default.removeItem(at: blocker)
        _ = try runner.run(Fixtures.job(input: clip.url, output: output))
        XCTAssertNoThrow(try Receipts.verify(output: output, input: clip.url))
    }

    /// A job redone over an earlier output that fails after rendering (here: its old receipt
    /// cannot be removed) leaves no output at all: never the old output without its receipt,
    /// nor a new receipt beside the old output.
    func testRedoneJobThatFailsLeavesNoOutput() throws {
        let (clip, outDir, output) = try shortClip("redo")
        let receipt = Receipts.receiptURL(for: output)
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: SigningKey.generate())
        _ = try runner.run(Fixtures.job(input: clip.url, output: output))
        XCTAssertNoThrow(try Receipts.verify(output: output, input: clip.url))

        // The old receipt replaced by a directory, which unlink(2) cannot remove.
        try FileManager.default.removeItem(at: receipt)
        try FileManager.default.createDirectory(at: receipt.appendingPathComponent("occupied"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: clip.url, output: output))) { error in
            guard case .output = error as? RedactError else { return XCTFail("expected an output error, got \(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "the old output survived a failed redo")
        XCTAssertEqual(Fixtures.listing(outDir), [receipt.lastPathComponent], "only the blocking directory remains")
    }
}
