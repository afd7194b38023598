import Foundation
import XCTest
@testable import RedactKit

/// The schedule's window runs (`DetectionSchedule.plan`, `CenterFaceDetector.detect(near:)`): in
/// a calm stretch every other regular run looks only at windows around the faces the last
/// whole-frame run found, a face found surely (`CenterFaceDetector.sureScore`) in a 160 px window
/// where it is 48 px tall, a doubtful one in a 320 px window where it is 96 px.
final class WindowRunTests: TempDirectoryTestCase {
    /// Five photographs at three sizes, moving slowly (1 px per frame): every window run finds
    /// its face again, at the detector threshold or more, where the face is. The sizes put the
    /// face both well above and below the small window's 48 px (the window shrinks or enlarges
    /// it), and most of the faces are found surely, so the small window is what most runs use.
    func testWindowRunsFindTheWatchedFaceAgain() throws {
        try Fixtures.requireSetup()
        let registry = try Fixtures.registry()
        let config = DetectorConfig()  // windows on, `every` 2: frames 3, 7, 11 are window runs
        XCTAssertTrue(config.windows)
        XCTAssertEqual(config.every, 2)
        var windowRuns = 0, sureWindowRuns = 0
        var problems: [String] = []
        for face in 0..<5 {
            for size in [40, 90, 200] {
                var o = Fixtures.ClipOptions()
                o.face = face
                o.faceSize = size
                o.frames = 12
                o.vx = 15  // 1 px per frame at 15 fps: a calm stretch
                o.vy = 0
                o.x0 = 200
                o.y0 = 80
                o.audioTracks = 0
                o.name = "w\(face)-\(size)"
                let clip = try Fixtures.makeClip(in: dir, o)
                let file = try Stages.detect(input: clip.url, output: dir.appendingPathComponent("\(o.name).json"),
                                             config: config, registry: registry)
                let best = Fixtures.bestFaces(file, truth: clip.faceBoxes)
                let windowFrames = file.frames.filter { $0.windows != nil }.map(\.frame)
                XCTAssertEqual(windowFrames, [3, 7, 11], "face\(face) at \(size) px: window runs")
                for frame in windowFrames {
                    windowRuns += 1
                    // The whole-frame run two frames before chose the window.
                    let before = best[frame - 3]?.score ?? 0
                    if before >= config.secondLookBelow { sureWindowRuns += 1 }
                    let found = best[frame - 1]?.score ?? 0
                    if found < config.threshold {
                        problems.append(String(format: "face%d at %d px, frame %d: window found %.2f (whole frame before: %.2f)",
                                               face, size, frame, found, before))
                    }
                }
            }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) window runs missed their face:\n" + problems.joined(separator: "\n"))
        XCTAssertEqual(windowRuns, 45)
        XCTAssertGreaterThanOrEqual(sureWindowRuns, windowRuns / 2, "most faces should be sure, or the small window goes untested")
    }

    /// `detect(near:)` on one 1280x720 frame, each photograph at four sizes: a watched face is
    /// found where it is, at the detector threshold or more, whether it was last seen surely (the
    /// small window only) or doubtfully (the small window, then the closer one unless the small
    /// window settled it), and nothing is found around a place without a face.
    func testAWatchedFaceIsFoundSureOrDoubtful() throws {
        try Fixtures.requireSetup()
        let registry = try Fixtures.registry()
        let config = DetectorConfig()
        let detector = try CenterFaceDetector(model: try registry.model("centerface"), engine: config.engine, precision: config.precision,
                                              threads: 2, minimumScore: TrackerConfig().lowScore, secondLook: SecondLook(config),
                                              windowed: true, inputPath: "test")
        // The line between sure and doubtful watches is the second look's.
        XCTAssertEqual(detector.sureScore, config.secondLookBelow)
        var problems: [String] = []
        for face in 0..<5 {
            for size in [40, 64, 120, 240] {
                var o = Fixtures.ClipOptions()
                o.face = face
                o.faceSize = size
                o.width = 1280
                o.height = 720
                o.frames = 1
                o.vx = 0
                o.vy = 0
                o.x0 = 600
                o.y0 = 200
                o.audioTracks = 0
                o.name = "n\(face)-\(size)"
                let clip = try Fixtures.makeClip(in: dir, o)
                let reader = try VideoStreamReader(path: clip.url.path)
                let image = DetectorImage(geometry: reader.geometry, longSide: 1280, path: clip.url.path)
                guard let frame = try reader.nextFrame() else { return XCTFail("no frame decoded") }
                try image.load(frame)
                let truth = clip.faceBoxes[0]
                for sure in [true, false] {
                    let found = try detector.detect(near: [DetectionSchedule.Watch(box: truth, sure: sure)], in: image, frame: 1)
                    let best = found.filter { $0.box.intersectionOverUnion(truth) >= 0.3 }.max { $0.score < $1.score }
                    if (best?.score ?? 0) < config.threshold {
                        problems.append("face\(face) at \(size) px, sure \(sure): \(found)")
                    }
                }
                // The same window 300 px to the left, on the test pattern only.
                var empty = truth
                empty.x -= 300
                let nothing = try detector.detect(near: [DetectionSchedule.Watch(box: empty, sure: false)], in: image, frame: 1)
                if !nothing.isEmpty { problems.append("face\(face) at \(size) px: found \(nothing) where there is no face") }
            }
        }
        XCTAssertTrue(problems.isEmpty, problems.joined(separator: "\n"))
    }
}
