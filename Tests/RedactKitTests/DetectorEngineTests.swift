import Foundation
import XCTest

@testable import RedactKit

/// OpenVINO (the default engine) and OpenCV's DNN module run the same ONNX models: on the
/// test faces they must report the same faces, boxes and scores up to float rounding, and the
/// file a detector writes must say which engine ran.
final class DetectorEngineTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        dir = try Fixtures.makeTempDirectory("engines")
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    /// The default engine must be in the build: setup.sh fetches it before the build, and a
    /// build without it would fail every default job (fail closed), so CI must not pass without it.
    func testOpenVINOIsBuiltIn() {
        XCTAssertTrue(InferenceEngine.openvino.isAvailable,
                      "this build has no OpenVINO: run scripts/setup.sh, then `swift build` again (Package.swift looks for .cache/openvino)")
        XCTAssertTrue(InferenceEngine.openvino.version.hasPrefix("2026.4.1"), "registry pins 2026.4.1, got \(InferenceEngine.openvino.version)")
        XCTAssertEqual(InferenceEngine.opencv.version, "4.6.0")
        XCTAssertEqual(DetectorConfig().engine, .openvino)
    }

    /// Five real faces, large (110 px, one look) and small (28 px on a 320 input: the second look
    /// runs its 160 and 320 px windows), every frame detected by both engines.
    func testBothEnginesFindTheSameFacesWithTheSameScores() throws {
        let registry = try Fixtures.registry()
        var compared = 0
        for face in 0..<5 {
            for (size, inputSize) in [(110, 640), (28, 320)] {
                var o = Fixtures.ClipOptions()
                o.face = face
                o.faceSize = size
                o.frames = 4
                o.audioTracks = 0
                o.name = "f\(face)-\(size)"
                let clip = try Fixtures.makeClip(in: dir, o)
                var config = DetectorConfig()
                config.every = 1
                config.inputSize = inputSize
                config.threshold = 0.1  // compare weak detections too
                var files: [InferenceEngine: DetectionsFile] = [:]
                for engine in InferenceEngine.allCases {
                    config.engine = engine
                    let out = dir.appendingPathComponent("\(o.name).\(engine.rawValue).json")
                    files[engine] = try Stages.detect(input: clip.url, output: out, config: config, registry: registry)
                    // What ran is on record, in the file that track and render read.
                    let written = try JSONDecoder().decode(DetectionsFile.self, from: Data(contentsOf: out))
                    XCTAssertEqual(written.detector.engine, engine)
                }
                let a = files[.openvino]!, b = files[.opencv]!
                XCTAssertEqual(a.frames.count, o.frames)
                for (fa, fb) in zip(a.frames, b.frames) {
                    // A detection within 0.02 of the threshold may fall on either side of it.
                    let clear = { (d: Detection) in abs(d.score - config.threshold) > 0.02 }
                    let da = (fa.detections ?? []).filter(clear), db = (fb.detections ?? []).filter(clear)
                    XCTAssertEqual(da.count, db.count, "\(o.name) frame \(fa.frame): \(da) against \(db)")
                    for d in da {
                        guard let match = db.max(by: { $0.box.intersectionOverUnion(d.box) < $1.box.intersectionOverUnion(d.box) }) else { continue }
                        XCTAssertGreaterThan(match.box.intersectionOverUnion(d.box), 0.97, "\(o.name) frame \(fa.frame): \(d) against \(match)")
                        XCTAssertEqual(match.score, d.score, accuracy: 0.01, "\(o.name) frame \(fa.frame)")
                        compared += 1
                    }
                }
            }
        }
        // Every large face in every frame and some small ones (27 when written: 20 large, 7 small),
        // or this compared too little to mean anything.
        XCTAssertGreaterThanOrEqual(compared, 5 * 4 + 5, "too few detections compared")
    }

    /// Files written before `engine` existed were made with OpenCV and read as such, so a tracks
    /// file from then is never taken for an OpenVINO run (tracks reuse compares the settings).
    func testSettingsWithoutEngineReadAsOpenCV() throws {
        var config = DetectorConfig()
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        XCTAssertEqual(json["engine"] as? String, "openvino")
        json.removeValue(forKey: "engine")
        let old = try JSONDecoder().decode(DetectorConfig.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old.engine, .opencv)
        config.engine = .opencv
        XCTAssertEqual(old, config)
    }
}
