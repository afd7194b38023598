import XCTest
@testable import RedactKit

/// The detector's frame schedule (pure Swift, no media).
final class DetectionScheduleTests: XCTestCase {
    func face(_ x: Double, _ y: Double, _ h: Double = 40, score: Double = 0.6) -> Detection {
        Detection(box: Box(x: x, y: y, w: h, h: h), score: score, objectClass: .face)
    }

    /// A calm stretch's window run: each box with whether its face was last seen surely (small window).
    func calm(_ watched: (Box, Bool)...) -> DetectionSchedule.Run {
        .calmWindows(watched.map { DetectionSchedule.Watch(box: $0.0, sure: $0.1) })
    }

    /// A dense stretch's extra frame, looking only at windows.
    func dense(_ watched: (Box, Bool)...) -> DetectionSchedule.Run {
        .denseWindows(watched.map { DetectionSchedule.Watch(box: $0.0, sure: $0.1) })
    }

    /// Runs the schedule over `frames` frames; `detections(frame)` is what a run on that frame finds.
    func runFrames(_ schedule: inout DetectionSchedule, _ frames: Int, _ detections: (Int) -> [Detection]) -> [Int] {
        var ran: [Int] = []
        for f in 1...frames {
            let run = schedule.plan(for: f)
            guard run != .skip else { continue }
            ran.append(f)
            schedule.record(run, frame: f, detections: detections(f))
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

    // MARK: - Windows on the extra frames of a dense stretch

    func testDenseExtraFramesLookOnlyAtTheFastFaceWhereItsMotionPutsIt() {
        // A 40 px face moving 20 px per frame to the right, and a still one.
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let detections = { (f: Int) in [self.face(100 + 20 * Double(f), 100), self.face(500, 300)] }
        XCTAssertEqual(s.plan(for: 1), .whole)
        s.record(.whole, frame: 1, detections: detections(1))
        XCTAssertEqual(s.plan(for: 2), .skip)
        // Two faces: a calm stretch's second regular run looks at both, where run 1 saw them.
        XCTAssertEqual(s.plan(for: 3), calm((Box(x: 120, y: 100, w: 40, h: 40), true), (Box(x: 500, y: 300, w: 40, h: 40), true)))
        s.record(s.plan(for: 3), frame: 3, detections: detections(3))
        // Runs 1 and 3 saw it move: frame 4 looks at one window, 20 px on from frame 3, and
        // not at the still face.
        XCTAssertEqual(s.plan(for: 4), dense((Box(x: 100 + 20 * 4, y: 100, w: 40, h: 40), true)))
        s.record(s.plan(for: 4), frame: 4, detections: [face(100 + 20 * 4, 100)])
        XCTAssertEqual(s.plan(for: 5), .whole)
        s.record(.whole, frame: 5, detections: detections(5))
        XCTAssertEqual(s.plan(for: 6), dense((Box(x: 100 + 20 * 6, y: 100, w: 40, h: 40), true)))
        // Without `windowed` (e.g. plates selected) the same frame is a whole-frame run.
        var whole = DetectionSchedule(every: 2, minimumScore: 0.2)
        for f in [1, 3] { whole.record(.whole, frame: f, detections: detections(f)) }
        XCTAssertEqual(whole.plan(for: 4), .whole)
    }

    /// What a window run's detections replace follows the run that was planned: a dense
    /// stretch's extra frame watched only the fast face, so the still one is kept as it was; a
    /// calm stretch's window run watched every face, so what it found replaces them all.
    func testAWindowRunReplacesOnlyTheFacesItWatched() {
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        s.record(.whole, frame: 1, detections: [face(100, 100), face(500, 300)])
        let calmRun = s.plan(for: 3)
        XCTAssertEqual(calmRun, calm((Box(x: 100, y: 100, w: 40, h: 40), true), (Box(x: 500, y: 300, w: 40, h: 40), true)))
        s.record(calmRun, frame: 3, detections: [face(140, 100), face(500, 300)])  // 20 px per frame: dense
        let denseRun = s.plan(for: 4)
        XCTAssertEqual(denseRun, dense((Box(x: 160, y: 100, w: 40, h: 40), true)))
        s.record(denseRun, frame: 4, detections: [face(160, 100)])
        XCTAssertEqual(s.seen.map(\.detection.box.x).sorted(), [160, 500])
        XCTAssertEqual(s.seen.map(\.frame).sorted(), [3, 4])

        var c = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        c.record(.whole, frame: 1, detections: [face(100, 100), face(500, 300)])
        c.record(c.plan(for: 3), frame: 3, detections: [face(102, 100)])
        XCTAssertEqual(c.seen.map(\.detection.box.x), [102])
        XCTAssertEqual(c.seen.map(\.frame), [3])
    }

    /// An earlier face the run found again is not also where another detection came from: a
    /// weak, blurred face entering (dev03 played backwards: 116 px at 0.13, next to a 171 px face
    /// found again 300 px away) has no motion yet and is watched where it was seen, not where the
    /// other face's position would send it.
    func testAFaceFoundAgainGivesItsMotionToOneDetectionOnly() {
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let big = { (x: Double) in Detection(box: Box(x: x, y: 243, w: 134, h: 171), score: 0.88, objectClass: .face) }
        let entering = Detection(box: Box(x: 88, y: 440, w: 99, h: 116), score: 0.13, objectClass: .face)
        s.record(.whole, frame: 1, detections: [big(356)])
        s.record(.whole, frame: 5, detections: [big(344), entering])
        XCTAssertEqual(s.plan(for: 7), calm((Box(x: 338, y: 243, w: 134, h: 171), true), (entering.box, false)))
        // The order of the detections does not matter.
        var t = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        t.record(.whole, frame: 1, detections: [big(356)])
        t.record(.whole, frame: 5, detections: [entering, big(344)])
        XCTAssertEqual(t.plan(for: 7), calm((entering.box, false), (Box(x: 338, y: 243, w: 134, h: 171), true)))
    }

    func testAFaceSeenOnceIsWatchedUntilItsMotionIsKnown() {
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        s.record(.whole, frame: 1, detections: [face(100, 100)])
        s.record(.whole, frame: 3, detections: [face(140, 100)])  // 20 px per frame: dense
        // Frame 5 (whole) finds the fast face and a new one; frame 6 watches both.
        s.record(.whole, frame: 5, detections: [face(180, 100), face(600, 200, 60)])
        guard case .denseWindows(let watched) = s.plan(for: 6) else { return XCTFail("expected a dense stretch's windows, got \(s.plan(for: 6))") }
        XCTAssertEqual(watched.map(\.box), [Box(x: 200, y: 100, w: 40, h: 40), Box(x: 600, y: 200, w: 60, h: 60)])
    }

    func testMoreFacesThanFitInWindowsLooksAtTheWholeFrame() {
        var many = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let n = DetectionSchedule.maxWindows + 1
        for f in [1, 3] {
            many.record(.whole, frame: f, detections: (0..<n).map { self.face(100 + 20 * Double(f), 60 + 60 * Double($0)) })
        }
        XCTAssertEqual(many.plan(for: 4), .whole)
    }

    /// A dense stretch's extra frame is for the fast faces. One the latest run did not find again
    /// surely is watched once more, closer (a doubtful face's windows), where its motion puts it,
    /// or where a weak detection continued it; once every such face has been found again at a
    /// walking pace there is nothing left to watch and the frame is skipped like any frame
    /// between regular runs (it used to be looked at whole: 35 of the 153 whole-frame passes of
    /// the dev benchmark's 1080p clip).
    func testAFastFaceNotFoundAgainIsWatchedOnceMoreAndASlowedOneNotAtAll() {
        // A 40 px face moving 20 px per frame to the right: dense from run 3, found on 4.
        func fastUntilFour() -> DetectionSchedule {
            var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
            s.record(.whole, frame: 1, detections: [face(100, 100)])
            s.record(s.plan(for: 3), frame: 3, detections: [face(140, 100)])
            XCTAssertEqual(s.plan(for: 4), dense((Box(x: 160, y: 100, w: 40, h: 40), true)))
            s.record(s.plan(for: 4), frame: 4, detections: [face(160, 100)])
            XCTAssertEqual(s.plan(for: 5), .whole)
            return s
        }
        // Run 5 does not find it: frame 6 looks for it, closer, 40 px on from frame 4.
        var missed = fastUntilFour()
        missed.record(.whole, frame: 5, detections: [])
        XCTAssertEqual(missed.plan(for: 6), dense((Box(x: 200, y: 100, w: 40, h: 40), false)))
        // Not found there either: given up (the next whole-frame run looks for it), not carried on.
        missed.record(missed.plan(for: 6), frame: 6, detections: [])
        XCTAssertEqual(missed.plan(for: 7), .whole)
        missed.record(.whole, frame: 7, detections: [])
        XCTAssertEqual(missed.plan(for: 8), .skip)
        XCTAssertEqual(missed.plan(for: 9), .whole)

        // Run 5 finds it only weakly (under the threshold): watched from where that detection was.
        var weak = fastUntilFour()
        weak.record(.whole, frame: 5, detections: [face(184, 104, score: 0.15)])
        XCTAssertEqual(weak.plan(for: 6), dense((Box(x: 208, y: 108, w: 40, h: 40), false)))

        // Run 5 finds it surely, slowed to 2 px per frame: nothing fast to watch, frame 6 skipped
        // although the dense stretch (from run 4's sighting) lasts to frame 8.
        var slowed = fastUntilFour()
        slowed.record(.whole, frame: 5, detections: [face(162, 100)])
        XCTAssertEqual(slowed.denseUntil, 8)
        XCTAssertEqual(slowed.plan(for: 6), .skip)
        XCTAssertEqual(slowed.plan(for: 7), .whole)
        XCTAssertEqual(slowed.plan(for: 8), .skip)

        // A face seen once and not found again by the next run is watched once more too.
        var once = fastUntilFour()
        once.record(.whole, frame: 5, detections: [face(180, 100), face(600, 300, 60)])
        once.record(.whole, frame: 7, detections: [face(220, 100)])
        XCTAssertEqual(once.plan(for: 8), dense((Box(x: 240, y: 100, w: 40, h: 40), true), (Box(x: 600, y: 300, w: 60, h: 60), false)))
    }

    // MARK: - Calm stretches: every other regular run in windows

    func testCalmStretchesAlternateWholeFrameAndWindowRuns() {
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        // A slow face (2 px per frame) and a weak detection (under the threshold, still).
        let detections = { (f: Int) in [self.face(100 + 2 * Double(f), 100), self.face(500, 300, 30, score: 0.15)] }
        XCTAssertEqual(s.plan(for: 1), .whole)
        s.record(.whole, frame: 1, detections: detections(1))
        XCTAssertEqual(s.plan(for: 2), .skip)
        // Run 2 looks at windows around both, weak one included, where they were.
        XCTAssertEqual(s.plan(for: 3), calm((Box(x: 102, y: 100, w: 40, h: 40), true), (Box(x: 500, y: 300, w: 30, h: 30), false)))
        s.record(s.plan(for: 3), frame: 3, detections: detections(3))
        XCTAssertEqual(s.plan(for: 5), .whole)
        s.record(.whole, frame: 5, detections: detections(5))
        // Now the slow face's motion is known (frames 3 to 5): its window moves on with it.
        XCTAssertEqual(s.plan(for: 7), calm((Box(x: 114, y: 100, w: 40, h: 40), true), (Box(x: 500, y: 300, w: 30, h: 30), false)))
        var plans: [Int: DetectionSchedule.Run] = [:]
        for f in 7...20 {
            let plan = s.plan(for: f)
            guard plan != .skip else { continue }
            plans[f] = plan
            s.record(plan, frame: f, detections: detections(f))
        }
        XCTAssertEqual(plans.keys.sorted(), [7, 9, 11, 13, 15, 17, 19])
        XCTAssertEqual(plans.filter { $0.value == .whole }.keys.sorted(), [9, 13, 17])
    }

    /// A face that a full-size run saw and the coarse run after it does not find again (too small
    /// for the coarse input) stays on the calm watch list, where its motion puts it, until the
    /// next full-size run; a face the coarse run finds again is watched once, where it was found.
    func testCoarseRunKeepsWatchingFacesOnlyTheFullSizeRunSaw() {
        var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let small = face(600, 300, 14, score: 0.3), big = { (f: Int) in self.face(100 + 2 * Double(f), 100) }
        s.record(.whole, frame: 1, detections: [big(1), small])  // full size: both
        XCTAssertEqual(s.plan(for: 3), calm((Box(x: 102, y: 100, w: 40, h: 40), true), (Box(x: 600, y: 300, w: 14, h: 14), false)))
        s.record(s.plan(for: 3), frame: 3, detections: [big(3), small])
        XCTAssertEqual(s.plan(for: 5), .whole)
        s.record(.whole, frame: 5, detections: [big(5)], coarse: true)  // coarse: the big face only
        XCTAssertEqual(s.plan(for: 7), calm((Box(x: 114, y: 100, w: 40, h: 40), true), (Box(x: 600, y: 300, w: 14, h: 14), false)))
        // The same run at the full size replaces the list: the small face is gone.
        var full = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        full.record(.whole, frame: 1, detections: [big(1), small])
        full.record(full.plan(for: 3), frame: 3, detections: [big(3), small])
        full.record(.whole, frame: 5, detections: [big(5)])
        XCTAssertEqual(full.plan(for: 7), calm((Box(x: 114, y: 100, w: 40, h: 40), true)))
        // A coarse run that finds both watches each once.
        var again = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        again.record(.whole, frame: 1, detections: [big(1), small])
        again.record(.whole, frame: 5, detections: [big(5), small], coarse: true)
        XCTAssertEqual(again.plan(for: 7), calm((Box(x: 114, y: 100, w: 40, h: 40), true), (Box(x: 600, y: 300, w: 14, h: 14), false)))
        // Carried faces only take free windows: as many faces as there are windows, found by the
        // coarse run, leave none, and the next regular run still looks at windows, not the whole
        // frame.
        var busy = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let most = (0..<DetectionSchedule.maxWindows).map { self.face(100 + 60 * Double($0), 100) }
        busy.record(.whole, frame: 1, detections: most + [small])
        busy.record(.whole, frame: 5, detections: most, coarse: true)
        XCTAssertEqual(busy.plan(for: 7), .calmWindows(most.map { DetectionSchedule.Watch(box: $0.box, sure: true) }))
        // Nor do they take a budget that is spent: four doubtful faces (a large window each).
        var doubtful = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        let weak = (0..<4).map { self.face(100 + 60 * Double($0), 100, score: 0.3) }
        doubtful.record(.whole, frame: 1, detections: weak + [face(600, 300)])
        doubtful.record(.whole, frame: 5, detections: weak, coarse: true)
        XCTAssertEqual(doubtful.plan(for: 7), .calmWindows(weak.map { DetectionSchedule.Watch(box: $0.box, sure: false) }))
    }

    /// Sure faces are watched in small windows, doubtful ones in large ones that cost four times
    /// as much: a run watches up to `maxWindows` faces within `windowBudget`, else the next
    /// regular run looks at the whole frame.
    func testWindowRunsWatchAsManyFacesAsTheirBudgetAllows() {
        func plan(sure: Int, doubtful: Int) -> DetectionSchedule.Run {
            var s = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
            let faces = (0..<sure).map { self.face(60 + 60 * Double($0), 100) }
                + (0..<doubtful).map { self.face(60 + 60 * Double($0), 300, score: 0.3) }
            s.record(.whole, frame: 1, detections: faces)
            return s.plan(for: 3)
        }
        XCTAssertEqual(DetectionSchedule.maxWindows, 8)
        XCTAssertEqual(DetectionSchedule.windowBudget, 16)
        guard case .calmWindows(let eight) = plan(sure: 8, doubtful: 0) else { return XCTFail("8 sure faces fit in windows") }
        XCTAssertEqual(eight.map(\.sure), Array(repeating: true, count: 8))
        XCTAssertEqual(plan(sure: 9, doubtful: 0), .whole)
        guard case .calmWindows(let four) = plan(sure: 0, doubtful: 4) else { return XCTFail("4 doubtful faces fit in windows") }
        XCTAssertEqual(four.map(\.sure), Array(repeating: false, count: 4))
        XCTAssertEqual(plan(sure: 0, doubtful: 5), .whole)
        guard case .calmWindows(let mixed) = plan(sure: 4, doubtful: 3) else { return XCTFail("4 sure and 3 doubtful faces cost 16") }
        XCTAssertEqual(mixed.map(\.sure), Array(repeating: true, count: 4) + Array(repeating: false, count: 3))
        XCTAssertEqual(plan(sure: 5, doubtful: 3), .whole)
        // The line between sure and doubtful is the score, not the size.
        var edge = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        edge.record(.whole, frame: 1, detections: [face(100, 100, 200, score: DetectionSchedule.defaultSureScore), face(400, 100, 12, score: 0.49)])
        XCTAssertEqual(edge.plan(for: 3), calm((Box(x: 100, y: 100, w: 200, h: 200), true), (Box(x: 400, y: 100, w: 12, h: 12), false)))
        // And it is the one the schedule is given (the second look's, `second_look_below`): at
        // 0.7, a face at 0.6 is doubtful, costs four small windows, and five such do not fit.
        var stricter = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true, sureScore: 0.7)
        stricter.record(.whole, frame: 1, detections: [face(100, 100, score: 0.7), face(400, 100, score: 0.6)])
        XCTAssertEqual(stricter.plan(for: 3), calm((Box(x: 100, y: 100, w: 40, h: 40), true), (Box(x: 400, y: 100, w: 40, h: 40), false)))
        var stricterMany = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true, sureScore: 0.7)
        stricterMany.record(.whole, frame: 1, detections: (0..<5).map { self.face(60 + 60 * Double($0), 100, score: 0.6) })
        XCTAssertEqual(stricterMany.plan(for: 3), .whole)
    }

    func testBusyOrFastOrEveryFrameKeepsWholeFrameRuns() {
        // More detections than windows on the last whole run: the next regular run is whole too.
        var busy = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        busy.record(.whole, frame: 1, detections: (0...DetectionSchedule.maxWindows).map { self.face(100 + 60 * Double($0), 100) })
        XCTAssertEqual(busy.plan(for: 3), .whole)
        // No face at all: nothing to watch, the regular run is skipped (the next whole run finds
        // new faces).
        var empty = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        empty.record(.whole, frame: 1, detections: [])
        XCTAssertEqual(empty.plan(for: 3), .skip)
        XCTAssertEqual(empty.plan(for: 5), .whole)
        // A dense stretch keeps its regular runs whole.
        var fast = DetectionSchedule(every: 2, minimumScore: 0.2, windowed: true)
        fast.record(.whole, frame: 1, detections: [face(100, 100)])
        XCTAssertEqual(fast.plan(for: 3), calm((Box(x: 100, y: 100, w: 40, h: 40), true)))
        fast.record(fast.plan(for: 3), frame: 3, detections: [face(140, 100)])  // 20 px per frame: dense
        XCTAssertEqual(fast.plan(for: 5), .whole)
        fast.record(.whole, frame: 5, detections: [face(180, 100)])
        XCTAssertEqual(fast.plan(for: 7), .whole)
        // `every` 1 and schedules without windows (plates) never alternate.
        for var s in [DetectionSchedule(every: 1, minimumScore: 0.2, windowed: true),
                      DetectionSchedule(every: 2, minimumScore: 0.2, windowed: false)] {
            s.record(.whole, frame: 1, detections: [face(100, 100)])
            XCTAssertEqual(s.plan(for: s.every + 1), .whole)
        }
    }
}
