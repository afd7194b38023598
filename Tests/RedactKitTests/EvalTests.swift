import Foundation
import XCTest
@testable import RedactKit

/// `redact eval`: pixel evaluation of an original/redacted pair against ground truth, the tracks
/// mode, the CSV reader, the numerics it rests on and the CLI gates' exit codes.
final class EvalTests: TempDirectoryTestCase {
    private static var fixtureDirectory: URL?
    private static var cached: Fixture?
    private static let lock = NSLock()

    /// One clip (a real face moving over testsrc2), its ground truth and three "redacted" versions.
    struct Fixture {
        var clip: Fixtures.Clip
        var gt: URL
        /// Re-encoded at CRF 23: nothing redacted.
        var reencoded: URL
        /// Face box filled with black in every frame.
        var filled: URL
        /// Filled in the first half of the frames only.
        var halfFilled: URL
        var half: Int { clip.frameCount / 2 }
    }

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("eval-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        cached = nil
        super.tearDown()
    }

    static func fixture() throws -> Fixture {
        lock.lock()
        defer { lock.unlock() }
        if let f = cached { return f }
        try Fixtures.requireSetup()
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        var o = Fixtures.ClipOptions()
        o.name = "evalclip"
        o.frames = 40
        o.audioTracks = 0
        let clip = try Fixtures.makeClip(in: dir, o)
        let gt = dir.appendingPathComponent("evalclip.gt.csv")
        try writeGT(clip.boxes, to: gt)
        let reencoded = dir.appendingPathComponent("reencoded.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0:v", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "veryfast",
                             "-crf", "23", "-pix_fmt", "yuv420p", reencoded.path])
        let filled = dir.appendingPathComponent("filled.mp4")
        try fill(clip, frames: 0..<clip.frameCount, to: filled)
        let halfFilled = dir.appendingPathComponent("half.mp4")
        try fill(clip, frames: 0..<(clip.frameCount / 2), to: halfFilled)
        let f = Fixture(clip: clip, gt: gt, reencoded: reencoded, filled: filled, halfFilled: halfFilled)
        cached = f
        return f
    }

    static func writeGT(_ boxes: [Box], to url: URL, visible: Double = 1) throws {
        var text = GroundTruth.header + "\n"
        for (i, b) in boxes.enumerated() {
            text += "\(i + 1),1,\(b.x),\(b.y),\(b.w),\(b.h),face,\(String(format: "%.3f", visible))\n"
        }
        try Data(text.utf8).write(to: url)
    }

    /// ffmpeg's drawbox (t=fill, black) over the ground-truth box in the given frames (0-based).
    static func fill(_ clip: Fixtures.Clip, frames: Range<Int>, to url: URL) throws {
        let boxes = frames.map { n -> String in
            let b = clip.boxes[n]
            return "drawbox=x=\(Int(b.x)):y=\(Int(b.y)):w=\(Int(b.w)):h=\(Int(b.h)):color=black:t=fill:enable='eq(n,\(n))'"
        }
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0:v", "-vf", boxes.joined(separator: ","), "-fps_mode", "passthrough",
                             "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", url.path])
    }

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    // MARK: - Pixel evaluation

    func testReencodeIsNotRedaction() throws {
        let f = try Self.fixture()
        let r = try Evaluation.evaluate(original: f.clip.url, redacted: f.reencoded, groundTruth: f.gt)
        let face = try XCTUnwrap(r.classes["face"])
        XCTAssertEqual(r.mode, "pixels")
        XCTAssertEqual(r.frames.original, f.clip.frameCount)
        XCTAssertEqual(r.frames.redacted, f.clip.frameCount)
        XCTAssertTrue(r.frames.match)
        XCTAssertEqual(face.objectFrames, f.clip.frameCount, "every object-frame scored (none low-detail)")
        XCTAssertLessThanOrEqual(try XCTUnwrap(face.recall), 0.05)
        XCTAssertGreaterThanOrEqual(face.leakFrames, f.clip.frameCount - 2)
        XCTAssertEqual(face.nBySize?[">100"], f.clip.frameCount, "110 px faces")
        let over = try XCTUnwrap(r.overRedaction)
        XCTAssertEqual(over.method, "changed_cells")
        XCTAssertEqual(over.framesTested, f.clip.frameCount)
        XCTAssertGreaterThan(over.cellsTested, 100)
        XCTAssertLessThanOrEqual(try XCTUnwrap(over.fraction), 0.01)
    }

    func testFilledBoxIsRedacted() throws {
        let f = try Self.fixture()
        let r = try Evaluation.evaluate(original: f.clip.url, redacted: f.filled, groundTruth: f.gt)
        let face = try XCTUnwrap(r.classes["face"])
        XCTAssertEqual(face.objectFrames, f.clip.frameCount)
        XCTAssertEqual(face.recall, 1.0)
        XCTAssertEqual(face.leakFrames, 0)
        XCTAssertEqual(face.longestLeakRun, 0)
        XCTAssertNil(face.firstLeakFrame)
        XCTAssertEqual(r.all.recall, 1.0)
        XCTAssertLessThanOrEqual(try XCTUnwrap(r.overRedaction?.fraction), 0.01, "the fill stays inside the dilated GT box")
    }

    func testHalfFilledLeaksTheSecondHalf() throws {
        let f = try Self.fixture()
        let r = try Evaluation.evaluate(original: f.clip.url, redacted: f.halfFilled, groundTruth: f.gt)
        let face = try XCTUnwrap(r.classes["face"])
        XCTAssertEqual(try XCTUnwrap(face.recall), 0.5, accuracy: 0.03)
        XCTAssertEqual(face.leakFrames, f.clip.frameCount - f.half, accuracy: 1)
        XCTAssertEqual(face.longestLeakRun, f.clip.frameCount - f.half, accuracy: 1)
        XCTAssertEqual(try XCTUnwrap(face.firstLeakFrame), f.half + 1, accuracy: 1)
        // The gates.
        XCTAssertFalse(r.check(EvalGates(minRecall: 0.995)).passed)
        XCTAssertEqual(r.check(EvalGates(minRecall: 0.995)).failures, ["recall 0.500 < 0.995 (face)"])
        XCTAssertTrue(r.check(EvalGates(minRecall: 0.4)).passed)
        XCTAssertFalse(r.check(EvalGates(maxLeakFrames: 0)).passed)
        XCTAssertTrue(r.check(EvalGates(minRecall: 0.995, objectClass: "plate")).passed, "no plates: nothing to gate")
        XCTAssertFalse(r.check(EvalGates(minRecall: 0.995, objectClass: "plate")).warnings.isEmpty)
    }

    func testInvisibleRowsAreNotScoredAndOverStrideIsReported() throws {
        let f = try Self.fixture()
        let gt = dir.appendingPathComponent("hidden.csv")
        try Self.writeGT(f.clip.boxes, to: gt, visible: 0.4)
        var options = PixelEvalOptions()
        options.overRedactionStride = 4
        let r = try Evaluation.evaluate(original: f.clip.url, redacted: f.reencoded, groundTruth: gt, options: options)
        XCTAssertTrue(r.classes.isEmpty, "rows under visible_fraction 0.5 are not scored")
        XCTAssertNil(r.all.recall)
        XCTAssertEqual(r.overRedaction?.frameStride, 4)
        XCTAssertEqual(r.overRedaction?.framesTested, (f.clip.frameCount + 3) / 4)
        XCTAssertTrue(r.notes.contains { $0.contains("every 4th frame") }, "\(r.notes)")
        // Hidden objects still shield their cells from over-redaction.
        XCTAssertLessThanOrEqual(try XCTUnwrap(r.overRedaction?.fraction), 0.01)
    }

    func testFrameCountMismatchScoresCommonPrefix() throws {
        let f = try Self.fixture()
        let short = dir.appendingPathComponent("short.mp4")
        try Fixtures.ffmpeg(["-i", f.filled.path, "-map", "0:v", "-c", "copy", "-frames:v", "30", short.path])
        let n = try Fixtures.framePTS(short).count
        XCTAssertLessThan(n, f.clip.frameCount)
        let r = try Evaluation.evaluate(original: f.clip.url, redacted: short, groundTruth: f.gt)
        XCTAssertFalse(r.frames.match)
        XCTAssertEqual(r.frames.redacted, n)
        XCTAssertEqual(r.frames.scored, n)
        let face = try XCTUnwrap(r.classes["face"])
        XCTAssertEqual(face.objectFrames, n)
        XCTAssertEqual(face.unscoredObjectFrames, f.clip.frameCount - n)
        XCTAssertEqual(face.recall, 1.0)
        XCTAssertTrue(r.notes.contains { $0.contains("frame counts differ") })
        XCTAssertFalse(r.check(EvalGates(minRecall: 0.9)).warnings.isEmpty)
    }

    func testDifferentDisplaySizeIsAnError() throws {
        let f = try Self.fixture()
        let small = dir.appendingPathComponent("small.mp4")
        try Fixtures.ffmpeg(["-i", f.clip.url.path, "-map", "0:v", "-vf", "scale=320:180", "-c:v", "libx264", "-preset", "ultrafast", small.path])
        XCTAssertThrowsError(try Evaluation.evaluate(original: f.clip.url, redacted: small, groundTruth: f.gt)) { e in
            guard case RedactError.badMedia(let path, let detail) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(path, small.path)
            XCTAssertTrue(detail.contains("320x180") && detail.contains("640x360"), detail)
        }
    }

    /// Grey frames equal ffmpeg's `-pix_fmt gray` with autorotation, byte for byte, for each rotation.
    func testGreyFramesMatchFFmpegInDisplayOrientation() throws {
        for rotation in [0, 90, 180, 270] {
            var o = Fixtures.ClipOptions()
            o.name = "rot\(rotation)"
            o.frames = 4
            o.audioTracks = 0
            o.width = 320
            o.height = 192
            o.faceSize = 64
            o.rotation = rotation
            let clip = try Fixtures.makeClip(in: dir, o)
            let reference = try Fixtures.grayFrames(clip.url)
            let reader = try GreyVideoReader(path: clip.url.path)
            XCTAssertEqual(reader.displayWidth, 320, "rotation \(rotation)")
            XCTAssertEqual(reader.displayHeight, 192, "rotation \(rotation)")
            XCTAssertEqual(reference.width, 320)
            var frames: [[UInt8]] = []
            while let g = try reader.nextGrey() { frames.append(g) }
            XCTAssertEqual(frames.count, reference.frames.count, "rotation \(rotation)")
            for (i, (a, b)) in zip(frames, reference.frames).enumerated() {
                XCTAssertTrue(a == b, "rotation \(rotation), frame \(i + 1): \(zip(a, b).filter { $0 != $1 }.count) pixels differ")
            }
        }
    }

    // MARK: - Tracks mode

    /// tracks.json whose boxes are the GT box shrunk to `scale` (same centre) in frames 1...upTo.
    func writeTracks(_ clip: Fixtures.Clip, upTo last: Int, scale: Double) throws -> URL {
        var frames: [FrameBoxes] = []
        for n in 1...clip.frameCount {
            var boxes: [TrackedBox] = []
            if n <= last {
                let g = clip.boxes[n - 1]
                let b = Box(x: g.centerX - g.w * scale / 2, y: g.centerY - g.h * scale / 2, w: g.w * scale, h: g.h * scale)
                boxes.append(TrackedBox(trackID: 1, objectClass: .face, box: b, score: 0.9, source: .detected))
            }
            frames.append(FrameBoxes(frame: n, boxes: boxes))
        }
        let file = TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: String(repeating: "0", count: 64)),
                              geometry: FrameGeometry(storedWidth: clip.width, storedHeight: clip.height, quarterTurns: 0),
                              model: nil, detector: nil, tracker: TrackerConfig())
        let url = dir.appendingPathComponent("tracks.json")
        try JSONFiles.write(file, to: url)
        return url
    }

    func testTracksModeCoverageWithPadding() throws {
        let f = try Self.fixture()
        let tracks = try writeTracks(f.clip, upTo: f.half, scale: 0.7)
        // Painted as a box padded by 20 %, a box at 70 % of the face covers its central 80 %.
        var boxOptions = TrackEvalOptions()
        boxOptions.padding = 0.2
        boxOptions.shape = .box
        let r = try Evaluation.evaluate(tracks: tracks, groundTruth: f.gt, options: boxOptions)
        XCTAssertEqual(r.mode, "tracks")
        let face = try XCTUnwrap(r.classes["face"])
        XCTAssertEqual(face.objectFrames, f.clip.frameCount)
        XCTAssertEqual(face.redacted, f.half)
        XCTAssertEqual(face.leakFrames, f.clip.frameCount - f.half)
        XCTAssertEqual(face.longestLeakRun, f.clip.frameCount - f.half)
        XCTAssertEqual(face.firstLeakFrame, f.half + 1)
        XCTAssertEqual(r.thresholds.padding, 0.2)
        let over = try XCTUnwrap(r.overRedaction)
        XCTAssertEqual(over.method, "track_area_outside_gt")
        XCTAssertEqual(try XCTUnwrap(over.fraction), 0, accuracy: 0.001, "padded boxes stay inside the dilated GT boxes")
        // Padded by 10 % (0.84 of the face), a box still covers the central 80 %; the ellipse
        // inscribed in it leaves that square's corners out.
        var tight = boxOptions
        tight.padding = 0.1
        XCTAssertEqual(try Evaluation.evaluate(tracks: tracks, groundTruth: f.gt, options: tight).classes["face"]?.redacted, f.half)
        tight.shape = .ellipse
        XCTAssertEqual(try Evaluation.evaluate(tracks: tracks, groundTruth: f.gt, options: tight).classes["face"]?.redacted, 0)
        // Unpadded, the same boxes cover only (0.7 / 0.8)^2 of the tested region.
        var options = boxOptions
        options.padding = 0
        let bare = try Evaluation.evaluate(tracks: tracks, groundTruth: f.gt, options: options)
        XCTAssertEqual(bare.classes["face"]?.redacted, 0)
        XCTAssertEqual(bare.classes["face"]?.recall, 0)
        // A box far too big is over-redaction.
        let big = try writeTracks(f.clip, upTo: f.clip.frameCount, scale: 3)
        let wide = try Evaluation.evaluate(tracks: big, groundTruth: f.gt, options: boxOptions)
        XCTAssertEqual(wide.classes["face"]?.recall, 1)
        XCTAssertGreaterThan(try XCTUnwrap(wide.overRedaction?.fraction), 0.1)
    }

    func testCoverageRaster() {
        let r = (x0: 10, y0: 10, x1: 50, y1: 50)
        XCTAssertEqual(Evaluation.coverage(of: r, by: [Box(x: 0, y: 0, w: 100, h: 100)], raster: 24), 1)
        XCTAssertEqual(Evaluation.coverage(of: r, by: [], raster: 24), 0)
        XCTAssertEqual(Evaluation.coverage(of: r, by: [Box(x: 0, y: 0, w: 30, h: 100)], raster: 20), 0.5, accuracy: 1e-9)
        XCTAssertEqual(Evaluation.coverage(of: r, by: [Box(x: 0, y: 0, w: 30, h: 100), Box(x: 30, y: 0, w: 30, h: 30)], raster: 20),
                       0.75, accuracy: 1e-9, "union, not sum")
        // The ellipse inscribed in a square covers pi/4 of it.
        let square = (x0: 0, y0: 0, x1: 40, y1: 40)
        XCTAssertEqual(Evaluation.coverage(of: square, byShapes: [PaintedShape(rect: Box(x: 0, y: 0, w: 40, h: 40), ellipse: true)], raster: 40),
                       Double.pi / 4, accuracy: 0.02)
    }

    // MARK: - Ground truth CSV

    func testGroundTruthParsing() throws {
        let gt = try GroundTruth.parse("""
            frame,id,x,y,w,h,class,visible_fraction\r
            12,3,604.2,288.0,57.1,57.1,face,0.870\r
            12,4,10,20,64.8,38.8,plate,1.000

            13,9,-5,0,30,30,license_plate
            """, path: "gt.csv")
        XCTAssertEqual(gt.rows.count, 3)
        XCTAssertEqual(gt.rows[0], GroundTruthRow(frame: 12, id: 3, box: Box(x: 604.2, y: 288, w: 57.1, h: 57.1), objectClass: "face", visibleFraction: 0.87))
        XCTAssertEqual(gt.rows[1].bucketSize, 64.8, "plates are bucketed by width")
        XCTAssertEqual(gt.rows[2].visibleFraction, 1)
        XCTAssertEqual(gt.classes, ["face", "license_plate", "plate"])
        XCTAssertEqual(gt.rowsByFrame[12]?.count, 2)
        XCTAssertEqual(try GroundTruth.parse("1,1,0,0,10,10,face,1\n", path: "x").rows.count, 1, "header optional")

        let bad: [(String, String, String)] = [
            ("frame,id,x,y,w,h,class,visible_fraction\n1,1,0,0,10,10,face,1\n1,2,0,0,10,10\n", "line 3", "fields"),
            ("1,1,0,0,10,10,face,1,extra\n", "line 1", "fields"),
            ("1,2,0,0,10,face,1\n", "line 1", "h `face`"),
            ("frame,id,x,y,w,h,class,visible_fraction\n0,1,0,0,10,10,face,1\n", "line 2", "frame"),
            ("1,1,0,0,10,-3,face,1\n", "line 1", "positive"),
            ("1,1,0,0,10,10,Face,1\n", "line 1", "lowercase"),
            ("1,1,0,0,10,10,face,1.5\n", "line 1", "visible_fraction"),
            ("1,1,0,zero,10,10,face,1\n", "line 1", "y `zero`"),
            ("id,frame\n", "line 1", "header"),
            ("1,1,0,0,10,10,face,1\nframe,id,x,y,w,h,class,visible_fraction\n", "line 2", "frame"),
        ]
        for (text, line, word) in bad {
            XCTAssertThrowsError(try GroundTruth.parse(text, path: "gt.csv"), text) { e in
                guard case RedactError.badJSON(let path, let where_, let detail) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(path, "gt.csv")
                XCTAssertEqual(where_, line, "\(text): \(detail)")
                XCTAssertTrue(detail.contains(word), "\(text): \(detail)")
            }
        }
        XCTAssertThrowsError(try GroundTruth.read(contentsOf: dir.appendingPathComponent("missing.csv"))) { e in
            XCTAssertEqual(e as? RedactError, .inputNotFound(path: dir.appendingPathComponent("missing.csv").path))
        }
    }

    // MARK: - Numerics

    /// The separable blur equals a direct 2-D convolution with the same kernel and mirrored edges,
    /// including images smaller than the kernel.
    func testGaussianBlurMatchesDirectConvolution() {
        var rng = SystemRandomNumberGenerator()
        for (w, h, sigma) in [(23, 17, 1.0), (16, 32, 3.0), (5, 9, 3.0), (40, 3, 0.8)] {
            let img = FloatImage(width: w, height: h, pixels: (0..<(w * h)).map { _ in Float(Int.random(in: 0...255, using: &rng)) })
            let blur = GaussianBlur(sigma: sigma)
            let size = Int((sigma * 8 + 1).rounded()) | 1
            XCTAssertEqual(blur.radius, (size - 1) / 2)
            XCTAssertEqual(Double(blur.taps[0] + 2 * blur.taps.dropFirst().reduce(0, +)), 1, accuracy: 1e-5)
            for border in [BorderMode.reflect, .reflect101] {
                let out = blur.apply(img, border: border)
                let r = blur.radius
                for y in 0..<h {
                    for x in 0..<w {
                        var acc = 0.0
                        for dy in -r...r {
                            for dx in -r...r {
                                let v = img[border.index(x + dx, w), border.index(y + dy, h)]
                                acc += Double(blur.taps[abs(dx)]) * Double(blur.taps[abs(dy)]) * Double(v)
                            }
                        }
                        XCTAssertEqual(Double(out[x, y]), acc, accuracy: 1e-3, "\(w)x\(h) sigma \(sigma) \(border) at \(x),\(y)")
                    }
                }
            }
        }
        XCTAssertEqual(BorderMode.reflect.index(-1, 5), 0)
        XCTAssertEqual(BorderMode.reflect.index(5, 5), 4)
        XCTAssertEqual(BorderMode.reflect101.index(-1, 5), 1)
        XCTAssertEqual(BorderMode.reflect101.index(5, 5), 3)
        XCTAssertEqual(BorderMode.reflect.index(-7, 3), 0, "several reflections")
    }

    func testResize() {
        // Shrinking by 2 with INTER_AREA: 2x2 means (rounded).
        let src: [UInt8] = [0, 2, 10, 20,
                            4, 6, 30, 40,
                            100, 100, 0, 0,
                            100, 101, 0, 1]
        XCTAssertEqual(ImageOps.resize(src, width: 4, height: 4, to: 2, 2, area: true).pixels, [3, 25, 100, 0])
        // Same size: unchanged either way.
        XCTAssertEqual(ImageOps.resize(src, width: 4, height: 4, to: 4, 4, area: false).pixels, src.map(Float.init))
        // Doubling with INTER_LINEAR: half-pixel centres, clamped edges.
        let up = ImageOps.resize([0, 100], width: 2, height: 1, to: 4, 1, area: false).pixels
        XCTAssertEqual(up, [0, 25, 75, 100])
        // Non-integer area shrink 3 -> 2: weights 2/3, 1/3.
        let a = ImageOps.resize([0, 30, 90], width: 3, height: 1, to: 2, 1, area: true).pixels
        XCTAssertEqual(a, [10, 70])
    }

    func testObjectTestSeparatesIdentityFromFill() {
        let scorer = PixelScorer(width: 64, height: 64)
        var rng = SystemRandomNumberGenerator()
        let w = 48, h = 48
        let textured = (0..<(w * h)).map { i -> UInt8 in UInt8(clamping: 128 + Int(60 * sin(Double(i % w) / 2) * cos(Double(i / w) / 3)) + Int.random(in: -5...5, using: &rng)) }
        let same = scorer.objectTest(original: textured, redacted: textured, width: w, height: h)
        XCTAssertEqual(same.redacted, false)
        XCTAssertEqual(same.rho, 1, accuracy: 1e-4)
        let black = scorer.objectTest(original: textured, redacted: [UInt8](repeating: 0, count: w * h), width: w, height: h)
        XCTAssertEqual(black.redacted, true)
        let flat = scorer.objectTest(original: [UInt8](repeating: 90, count: w * h), redacted: textured, width: w, height: h)
        XCTAssertNil(flat.redacted, "a flat original is low-detail")
    }

    func testLimitedRangeTableMatchesSwscale() {
        let t = GreyVideoReader.limitedToFullRange
        XCTAssertEqual(t[0], 0)
        XCTAssertEqual(t[16], 0)
        XCTAssertEqual(t[235], 255)
        XCTAssertEqual(t[255], 255)
        XCTAssertEqual(t[26], 12)
        XCTAssertEqual(t[34], 21)
        XCTAssertEqual(t[37], 24)
        XCTAssertEqual(t[128], 130)
    }

    // MARK: - CLI

    func testCLIGates() throws {
        let f = try Self.fixture()
        _ = try Fixtures.requireBinary()
        let gates = ["--min-recall", "0.995", "--max-leak-frames", "0"]
        var r = try Fixtures.redact(["eval", f.clip.url.path, f.filled.path, f.gt.path] + gates)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdoutText.contains("face"), r.stdoutText)
        XCTAssertTrue(r.stdoutText.contains("100.0%"), r.stdoutText)
        XCTAssertTrue(r.stdoutText.contains("gates: PASS"), r.stdoutText)

        r = try Fixtures.redact(["eval", f.clip.url.path, f.halfFilled.path, f.gt.path] + gates)
        XCTAssertEqual(r.status, RedactKit.ExitCode.verificationFailed.rawValue, r.stderr)
        XCTAssertTrue(r.stderrLines.contains("eval: recall 0.500 < 0.995 (face)"), r.stderr)
        XCTAssertTrue(r.stderrLines.contains { $0.hasPrefix("eval: 20 leak frames > 0 (face") }, r.stderr)

        r = try Fixtures.redact(["eval", "--json", "--min-recall", "0.4", "--class", "face", "--over-stride", "0",
                                 f.clip.url.path, f.halfFilled.path, f.gt.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], r.stdoutText)
        let face = try XCTUnwrap((obj["classes"] as? [String: Any])?["face"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(face["recall"] as? Double), 0.5, accuracy: 0.03)
        XCTAssertEqual(face["longest_leak_run"] as? Int, f.clip.frameCount - f.half)
        XCTAssertNil(obj["over_redaction"], "--over-stride 0 skips it")
        XCTAssertEqual((obj["gates"] as? [String: Any])?["passed"] as? Bool, true)
        XCTAssertEqual((obj["frames"] as? [String: Any])?["scored"] as? Int, f.clip.frameCount)

        // Over-redaction gate: the re-encode changed nothing outside the face.
        r = try Fixtures.redact(["eval", "--max-over-redaction", "0.02", f.clip.url.path, f.reencoded.path, f.gt.path])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testCLITracksMode() throws {
        let f = try Self.fixture()
        _ = try Fixtures.requireBinary()
        let tracks = try writeTracks(f.clip, upTo: f.half, scale: 0.7)
        let asBoxes = ["--padding", "0.2", "--shape", "box"]
        var r = try Fixtures.redact(["eval", "--tracks", tracks.path, f.gt.path, "--min-recall", "0.4"] + asBoxes)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdoutText.contains("tracks.json"), r.stdoutText)
        r = try Fixtures.redact(["eval", "--tracks", tracks.path, f.gt.path, "--min-recall", "0.995"] + asBoxes)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderrLines.contains("eval: recall 0.500 < 0.995 (face)"), r.stderr)
        r = try Fixtures.redact(["eval", "--tracks", tracks.path, f.gt.path, "--min-recall", "0.4", "--padding", "0", "--shape", "box"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderrLines.contains("eval: recall 0.000 < 0.4 (face)"), r.stderr)
    }

    func testCLIBadInputs() throws {
        let f = try Self.fixture()
        _ = try Fixtures.requireBinary()
        func fails(_ args: [String], _ code: Int32, _ mention: String) throws {
            let r = try Fixtures.redact(["eval"] + args)
            XCTAssertEqual(r.status, code, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(mention), "\(args): \(r.stderr)")
        }
        let badCSV = dir.appendingPathComponent("bad.csv")
        try Data("frame,id,x,y,w,h,class,visible_fraction\n1,1,0,0,10,10,face,1\n2,1,0,0,ten,10,face,1\n".utf8).write(to: badCSV)
        try fails([f.clip.url.path, f.filled.path, badCSV.path], 65, "line 3")
        let missing = dir.appendingPathComponent("missing.mp4").path
        try fails([f.clip.url.path, missing, f.gt.path], 66, missing)
        try fails([f.clip.url.path, f.gt.path], 64, "ORIGINAL REDACTED GT.csv")
        try fails(["--tracks", f.gt.path, f.clip.url.path, f.gt.path], 64, "--tracks")
        try fails([f.clip.url.path, f.filled.path, f.gt.path, "--min-recall", "1.5"], 64, "--min-recall")
        let notVideo = dir.appendingPathComponent("notvideo.mp4")
        try Data("hello".utf8).write(to: notVideo)
        try fails([notVideo.path, f.filled.path, f.gt.path], 65, notVideo.path)
        let small = dir.appendingPathComponent("small.mp4")
        try Fixtures.ffmpeg(["-i", f.clip.url.path, "-map", "0:v", "-frames:v", "3", "-vf", "scale=320:180", "-c:v", "libx264", "-preset", "ultrafast", small.path])
        try fails([f.clip.url.path, small.path, f.gt.path], 65, "displayed size")
    }
}
