import Foundation
import XCTest
@testable import RedactKit

/// The output reaches its final path only with its receipt: a job that cannot sign leaves
/// nothing at the output path.
final class CommitOrderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try Fixtures.makeTempDirectory("commit-order")
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func testJobThatCannotWriteItsReceiptLeavesNoOutput() throws {
        var o = Fixtures.ClipOptions()
        o.name = "short"
        o.frames = 15
        let clip = try Fixtures.makeClip(in: dir, o)
        let outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let output = outDir.appendingPathComponent("short.redacted.mp4")
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
}
