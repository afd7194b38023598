import Foundation
import XCTest
@testable import RedactKit

/// The example manifests in pipelines/ must stay valid as the schema evolves.
final class ExampleManifestTests: XCTestCase {
    func testEveryExampleManifestLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("pipelines")
        let manifests = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertTrue(manifests.contains("demo.json"), "pipelines/ lists \(manifests)")
        for name in manifests {
            let m = try ManifestLoader.load(contentsOf: dir.appendingPathComponent(name))
            XCTAssertFalse(m.jobs.isEmpty, name)
            XCTAssertNotNil(m.signingKey, "\(name): examples name their signing key")
        }
    }
}
