import Foundation
import XCTest
@testable import RedactKit

/// Whole-frame runs between full-size ones look at a coarser detector input
/// (`DetectorConfig.coarseInputSize`), and a full-size run comes at least every
/// `fullInputEvery` frames.
final class CoarseInputTests: TempDirectoryTestCase {
    private func config(coarse: Int, fullEvery: Int) -> DetectorConfig {
        var c = DetectorConfig()
        c.every = 1  // a whole-frame run on every frame: the sizes' cadence, not the schedule's
        c.windows = false
        c.coarseInputSize = coarse
        c.fullInputEvery = fullEvery
        return c
    }

    /// On a 720p clip (at full resolution on the 1280 input): frames 1, 5, 9 run at the full
    /// size, the others at 640, and every coarse run finds the face where the full-size input
    /// does (boxes in display pixels on both; the face, ~55 px tall at 640, gets its second look
    /// in the full-size image).
    func testCoarseRunsFindTheFaceWhereFullSizeRunsDo() throws {
        try Fixtures.requireSetup()
        let registry = try Fixtures.registry()
        var o = Fixtures.ClipOptions()
        o.width = 1280
        o.height = 720
        o.faceSize = 118  // the face ~110 px tall
        o.x0 = 400
        o.y0 = 200
        o.frames = 10
        o.audioTracks = 0
        let clip = try Fixtures.makeClip(in: dir, o)
        let truth = clip.faceBoxes
        let coarse = try Stages.detect(input: clip.url, output: dir.appendingPathComponent("coarse.json"),
                                       config: config(coarse: 640, fullEvery: 4), registry: registry)
        let full = try Stages.detect(input: clip.url, output: dir.appendingPathComponent("full.json"),
                                     config: config(coarse: 0, fullEvery: 4), registry: registry)
        XCTAssertEqual(coarse.frames.filter { $0.coarseInput == true }.map(\.frame), [2, 3, 4, 6, 7, 8, 10])
        XCTAssertTrue(full.frames.allSatisfy { $0.coarseInput == nil })
        let seenCoarse = Fixtures.bestFaces(coarse, truth: truth), seenFull = Fixtures.bestFaces(full, truth: truth)
        for i in 0..<o.frames {
            guard let c = seenCoarse[i], let f = seenFull[i] else {
                XCTFail("frame \(i + 1): face missed (coarse \(String(describing: seenCoarse[i])), full \(String(describing: seenFull[i])))")
                continue
            }
            XCTAssertGreaterThanOrEqual(c.score, DetectorConfig().threshold, "frame \(i + 1)")
            XCTAssertGreaterThan(c.box.intersectionOverUnion(f.box), 0.7, "frame \(i + 1): coarse \(c.box), full size \(f.box)")
            if [1, 5, 9].contains(i + 1) { XCTAssertEqual(c, f, "frame \(i + 1) ran at the full size in both") }
        }
    }

    /// A face too small to leave a trace on the coarse input (30 px tall, 6 px at 256) is found
    /// by the full-size runs (frames 1, 5, 9 with `full_input_every` 4), and only there.
    /// A 1080p clip on the same settings has no coarse runs: its full-size input is already
    /// scaled down.
    func testAFaceTooSmallForTheCoarseInputIsFoundByFullSizeRuns() throws {
        try Fixtures.requireSetup()
        let registry = try Fixtures.registry()
        var o = Fixtures.ClipOptions()
        o.width = 1280
        o.height = 720
        o.faceSize = 32
        o.x0 = 500
        o.y0 = 300
        o.vx = 30
        o.vy = 0
        o.frames = 9
        o.audioTracks = 0
        let clip = try Fixtures.makeClip(in: dir, o)
        let truth = clip.faceBoxes
        let threshold = DetectorConfig().threshold
        let file = try Stages.detect(input: clip.url, output: dir.appendingPathComponent("small.json"),
                                     config: config(coarse: 256, fullEvery: 4), registry: registry)
        let found = Fixtures.bestFaces(file, truth: truth).enumerated().filter { ($0.element?.score ?? 0) >= threshold }.map { $0.offset + 1 }
        XCTAssertEqual(found, [1, 5, 9], "found on the full-size runs only")
        XCTAssertEqual(file.frames.filter { $0.coarseInput == true }.map(\.frame), [2, 3, 4, 6, 7, 8])

        var big = o
        big.width = 1920
        big.height = 1080
        big.frames = 3
        big.name = "big"
        let bigClip = try Fixtures.makeClip(in: dir, big)
        let bigFile = try Stages.detect(input: bigClip.url, output: dir.appendingPathComponent("big.json"),
                                        config: config(coarse: 256, fullEvery: 4), registry: registry)
        XCTAssertEqual(bigFile.frames.count, 3)
        XCTAssertTrue(bigFile.frames.allSatisfy { $0.coarseInput == nil && $0.detections != nil })
    }
}
