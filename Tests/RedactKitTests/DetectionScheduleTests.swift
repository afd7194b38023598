import XCTest
@testable import RedactKit

/// The detector's frame schedule (pure Swift, no media).
final class DetectionScheduleTests: XCTestCase {
    func face(_ x: Double, _ y: Double, _ h: Double = 40, score: Double = 0.6) -> Detection {
        Detection(box: Box(x: x, y: y, w: h, h: h), score: score, objectClass: .face)
    }

    /// Runs the schedule over `frames` frames; `detections(frame)` is what a run on that frame finds.
    func runFrames(_ schedule: inout DetectionSchedule, _ frames: Int, _ detections: (Int) -> [Detection]) -> [Int] {
        var ran: [Int] = []
        for f in 1...frames where schedule.runs(on: f) {
            ran.append(f)
            schedule.record(frame: f, detections: detections(f))
        }
        return ran
    }

    func testEveryOneRunsOnEveryFrame() {
        var s = DetectionSchedule(every: 1, minimumScore: 0.2)
        XCTAssertEqual(runFrames(&s, 10) { f in [self.face(100 + 30 * Double(f), 100)] }, Array(1...10))
    }

    func testStillAndSlowFacesKeepTheFixedSchedule() {
        // A still face and one moving 4 px per frame (a tenth of its height): every third frame.
        var s = DetectionSchedule(every: 3, minimumScore: 0.2)
        let ran = runFrames(&s, 30) { f in [self.face(100, 100), self.face(400, 200 + 4 * Double(f))] }
        XCTAssertEqual(ran, Array(stride(from: 1, through: 30, by: 3)))
    }

    func testFastFaceMakesTheDetectorRunOnEveryFrameWhileItMoves() {
        // A 40 px face moving 20 px per frame (half its height) from frame 1 to 12, then still.
        var s = DetectionSchedule(every: 3, minimumScore: 0.2)
        let ran = runFrames(&s, 40) { f in [self.face(100 + 20 * Double(min(f, 12)), 100)] }
        // Runs at 1 and 4 see the motion: dense from 5 while it lasts (the run at 12 still saw it,
        // 12 + 6 = 18), then back to every third frame of the fixed schedule.
        XCTAssertEqual(ran, [1, 4] + Array(5...18) + [19, 22, 25, 28, 31, 34, 37, 40])
        XCTAssertEqual(s.denseUntil, 18)
    }

    func testWeakDetectionsAndFarAwayFacesDoNotCount() {
        // A weak detection (under the threshold) moving fast, and a face that appears far from
        // where another one was (a different face, not motion): the fixed schedule.
        var s = DetectionSchedule(every: 2, minimumScore: 0.2)
        let ran = runFrames(&s, 12) { f in
            [self.face(100 + 25 * Double(f), 100, score: 0.15), f % 4 == 1 ? self.face(50, 300) : self.face(900, 50)]
        }
        XCTAssertEqual(ran, [1, 3, 5, 7, 9, 11])
    }

    func testAFaceOfAnotherSizeIsNotTheSameFace() {
        // Between runs a 40 px face disappears and a 100 px one appears next to it.
        var s = DetectionSchedule(every: 2, minimumScore: 0.2)
        let ran = runFrames(&s, 8) { f in [f < 4 ? self.face(100, 100) : self.face(130, 100, 100)] }
        XCTAssertEqual(ran, [1, 3, 5, 7])
    }
}
