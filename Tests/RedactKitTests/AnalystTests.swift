import CFFmpeg
import Foundation
import XCTest
@testable import RedactKit

/// Analyst decisions end to end (docs/analyst.md): a generated clip with three real faces goes
/// through the real detector, tracker and renderer; the decoded output is compared with the
/// decoded input, pixel region by pixel region, frame by frame.
final class AnalystPipelineTests: TempDirectoryTestCase {
    // MARK: - The clip: three faces side by side, made once

    struct ThreeFaces {
        var url: URL
        /// The face photos' boxes (display pixels), left to right; they do not move.
        var faces: [Box]
        /// Presentation time of each frame (ffprobe), index 0 = frame 1.
        var times: [Double]
        var width = 640
        var height = 360
    }

    private static var fixtureDirectory: URL?
    private static var made: ThreeFaces?
    private static let lock = NSLock()

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("analyst-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        made = nil
        super.tearDown()
    }

    /// 640x360, 15 fps, 24 frames (1.6 s), testsrc2 background, faces 0, 1 and 2 (100 px) at
    /// x = 40, 270, 500, y = 120; no audio.
    static func clip() throws -> ThreeFaces {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        try Fixtures.requireSetup()
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        let url = dir.appendingPathComponent("three-faces.mp4")
        let xs = [40, 270, 500], y = 120, size = 100
        var args = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15"]
        for i in 0..<3 { args += ["-loop", "1", "-framerate", "15", "-i", Fixtures.face(i).path] }
        var chain = "[0:v]format=yuv420p[b0];"
        for i in 0..<3 { chain += "[\(i + 1):v]scale=\(size):\(size),format=yuv420p[f\(i)];" }
        for i in 0..<3 { chain += "[b\(i)][f\(i)]overlay=\(xs[i]):\(y)" + (i == 2 ? "[v]" : "[b\(i + 1)];") }
        args += ["-filter_complex", chain, "-map", "[v]", "-frames:v", "24", "-c:v", "libx264", "-preset", "veryfast", "-crf", "12",
                 "-pix_fmt", "yuv420p", url.path]
        try Fixtures.ffmpeg(args)
        let c = ThreeFaces(url: url, faces: xs.map { Box(x: Double($0), y: Double(y), w: Double(size), h: Double(size)) },
                           times: try Fixtures.framePTS(url))
        made = c
        return c
    }

    let key = SigningKey.generate()

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    // MARK: - Helpers

    /// A job of a manifest parsed from JSON (so the decisions carry their JSON paths), with a
    /// tracks file `tracks` (relative to `dir`) unless nil.
    func job(_ clip: ThreeFaces, output: String, tracks: String? = "side/tracks.json", detector: String = #"{"every": 1}"#,
             extra: String = "") throws -> ManifestJob {
        // The detector on every frame, so that detection and box counts are exact; the
        // decisions do not depend on the schedule.
        var body = #""id": "j", "input": "\#(clip.url.path)", "output": "\#(output)", "detector": \#(detector)"#
        if let tracks { body += #", "tracks": "\#(tracks)""# }
        if !extra.isEmpty { body += ", " + extra }
        let m = try ManifestLoader.parse(Data(#"{"version": 1, "jobs": [{\#(body)}]}"#.utf8), path: "case.json", baseDirectory: dir)
        return m.jobs[0]
    }

    func run(_ job: ManifestJob) throws -> (JobResult, ReceiptPredicate) {
        let result = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(job)
        let verified = try Receipts.verify(output: job.output, input: job.input, trustedKey: key.publicKey)
        return (result, verified.predicate)
    }

    func tracksFile(_ job: ManifestJob) throws -> TracksFile {
        try JSONFiles.read(TracksFile.self, from: try XCTUnwrap(job.tracks))
    }

    /// `"tracks_sha256": "..."` naming the job's tracks file as it is now (the file reviewed).
    func reviewed(_ job: ManifestJob) throws -> String {
        #""tracks_sha256": "\#(try FileDigest.sha256(of: try XCTUnwrap(job.tracks)))""#
    }

    /// The id of the track over `face` in most frames.
    func trackID(over face: Box, in file: TracksFile) throws -> Int {
        // Frames where one of the track's boxes (detected, or followed between the detector's
        // runs) lies over the face.
        let scored = file.tracks.map { t in
            (t.id, Set(t.boxes.filter { Box(x: $0.x, y: $0.y, w: $0.w, h: $0.h).intersectionOverUnion(face) > 0.3 }.map(\.frame)).count)
        }
        let best = try XCTUnwrap(scored.max { $0.1 < $1.1 }, "no tracks")
        XCTAssertGreaterThan(best.1, 12, "track \(best.0) covers the face in only \(best.1) frames")
        return best.0
    }

    func fmt(_ v: Double) -> String { String(format: "%.2f", v) }

    /// Rect of whole pixels of a box, clipped.
    func rect(_ b: Box, _ clip: ThreeFaces) -> Fixtures.Rect {
        Fixtures.Rect(x0: max(0, Int(b.x.rounded(.up))), y0: max(0, Int(b.y.rounded(.up))),
                      x1: min(clip.width, Int(b.maxX.rounded(.down))), y1: min(clip.height, Int(b.maxY.rounded(.down))))
    }

    /// Painted with `fill`: changed a lot from the input, and flat.
    func isPainted(_ input: [UInt8], _ output: [UInt8], _ r: Fixtures.Rect, width: Int) -> (Bool, String) {
        let change = Fixtures.meanAbsDiff(input, output, width: width, r), spread = Fixtures.stddev(output, width: width, r)
        return (change > 40 && spread < 6, "mean |out-in| \(fmt(change)), stddev \(fmt(spread))")
    }

    /// Left as in the input, encoder noise aside.
    func isKept(_ input: [UInt8], _ output: [UInt8], _ r: Fixtures.Rect, width: Int) -> (Bool, String) {
        let change = Fixtures.meanAbsDiff(input, output, width: width, r)
        return (change < 4, "mean |out-in| \(fmt(change))")
    }

    // MARK: - keep

    /// One face kept: its pixels stay, the other two are redacted in every frame. Editing `keep`
    /// and running again paints from the kept tracks.json without running the detector, and the
    /// new output differs from the old one only at the kept face. Track ids are the same on a
    /// second detection of the same input.
    func testKeepingOneTrackLeavesThatFaceAndRerunReusesTheTracks() throws {
        let clip = try Self.clip()
        // 1. No decisions: every face redacted; the detector ran; the tracks file is sealed.
        let first = try job(clip, output: "out/all.mp4")
        let (r1, p1) = try run(first)
        XCTAssertEqual(r1.counts.frames, 24)
        XCTAssertEqual(p1.counts.tracksReused, false)
        XCTAssertEqual(p1.counts.detectedFrames, 24)
        XCTAssertGreaterThan(p1.counts.detections, 24 * 2)
        XCTAssertNil(p1.analyst)
        XCTAssertEqual(p1.tracksFile?.reused, false)
        XCTAssertEqual(p1.tracksFile?.sha256, try FileDigest.sha256(of: XCTUnwrap(first.tracks)))
        let file = try tracksFile(first)
        XCTAssertNotNil(file.seal)
        let ids = try clip.faces.map { try trackID(over: $0, in: file) }
        XCTAssertEqual(Set(ids).count, 3, "one track per face: \(ids)")

        // 2. The same input detected again (another tracks file): the same tracks, ids included.
        let again = try job(clip, output: "out/again.mp4", tracks: "side/again.json")
        let (_, pAgain) = try run(again)
        XCTAssertEqual(pAgain.counts.tracksReused, false)
        let second = try tracksFile(again)
        XCTAssertEqual(second.tracks.map(\.id), file.tracks.map(\.id))
        XCTAssertEqual(second.tracks, file.tracks, "same input and configuration, different tracks")

        // 3. Keep the middle face.
        let middle = ids[1]
        let kept = try job(clip, output: "out/kept.mp4",
                           extra: #""keep": [{"track": \#(middle), "reason": "the requester (ATIP 2024-117)"}], \#(try reviewed(first))"#)
        let (r3, p3) = try run(kept)
        XCTAssertEqual(p3.counts.tracksReused, true, "the tracks file of step 1 must be reused")
        XCTAssertEqual(p3.counts.detectedFrames, 0, "the detector ran")
        XCTAssertEqual(p3.counts.detections, 0)
        XCTAssertEqual(p3.counts.tracks, file.tracks.count)
        XCTAssertEqual(p3.tracksFile?.reused, true)
        XCTAssertEqual(p3.tracksFile?.sha256, p1.tracksFile?.sha256)
        XCTAssertTrue(r3.tracksNote?.contains("reused") ?? false, r3.tracksNote ?? "no note")
        let keptTrack = try XCTUnwrap(file.tracks.first { $0.id == middle })
        let record = try XCTUnwrap(p3.analyst?.keep.first)
        XCTAssertEqual(p3.analyst?.keep.count, 1)
        XCTAssertEqual(record.track, middle)
        XCTAssertEqual(record.reason, "the requester (ATIP 2024-117)")
        XCTAssertEqual(record.boxesNotPainted, keptTrack.boxes.count)
        XCTAssertEqual(record.frames, Set(keptTrack.boxes.map(\.frame)).count)
        XCTAssertEqual(record.firstFrame, keptTrack.firstFrame)
        XCTAssertEqual(record.lastFrame, keptTrack.lastFrame)
        XCTAssertEqual(p3.counts.redactedBoxes, p1.counts.redactedBoxes - keptTrack.boxes.count)

        let input = try Fixtures.grayFrames(clip.url), all = try Fixtures.grayFrames(first.output), out = try Fixtures.grayFrames(kept.output)
        XCTAssertEqual(out.frames.count, 24)
        XCTAssertEqual(all.frames.count, 24)
        let w = clip.width
        var problems: [String] = []
        var worstOutside = 0.0
        for i in 0..<min(24, out.frames.count, all.frames.count) {
            let a = input.frames[i], b = out.frames[i], before = all.frames[i]
            for (k, face) in clip.faces.enumerated() {
                let centre = Fixtures.central(face, fraction: 0.8, width: w, height: clip.height)
                let core = Fixtures.central(face, fraction: 0.56, width: w, height: clip.height)
                if k == 1 {
                    // The whole photo, not only its centre, is as in the input.
                    let (ok, why) = isKept(a, b, rect(face, clip), width: w)
                    if !ok { problems.append("frame \(i + 1): kept face \(why)") }
                } else {
                    let (ok, why) = isPainted(a, b, core, width: w)
                    let change = Fixtures.meanAbsDiff(a, b, width: w, centre)
                    if !ok || change < 40 { problems.append("frame \(i + 1): face \(k) not redacted: core \(why), centre change \(fmt(change))") }
                }
            }
            // Against the output without the keep: the same outside the kept face's box grown by
            // its padding and a margin (encoder noise aside), different inside it.
            let grown = clip.faces[1].padded(by: 0.3)
            for band in [Fixtures.Rect(x0: 0, y0: 0, x1: w, y1: Int(grown.y)),
                         Fixtures.Rect(x0: 0, y0: Int(grown.maxY) + 1, x1: w, y1: clip.height),
                         Fixtures.Rect(x0: 0, y0: Int(grown.y), x1: Int(grown.x), y1: Int(grown.maxY) + 1),
                         Fixtures.Rect(x0: Int(grown.maxX) + 1, y0: Int(grown.y), x1: w, y1: Int(grown.maxY) + 1)] {
                let d = Fixtures.meanAbsDiff(before, b, width: w, band)
                worstOutside = max(worstOutside, d)
                if d >= 1.5 { problems.append("frame \(i + 1): outside the kept face \(band) differs from the first output by \(fmt(d))") }
            }
            let inside = Fixtures.meanAbsDiff(before, b, width: w, Fixtures.central(clip.faces[1], fraction: 0.56, width: w, height: clip.height))
            if inside < 40 { problems.append("frame \(i + 1): kept face differs from the first output by only \(fmt(inside))") }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems (worst change outside the kept face \(fmt(worstOutside))):\n" + problems.prefix(10).joined(separator: "\n"))

        // 4. Up to date as it is; another reason, or no keep, makes it redo.
        let registry = try Fixtures.registry()
        guard case .upToDate = ResumeCheck.evaluate(job: kept, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("unchanged job must be up to date")
        }
        var edited = kept
        edited.keep[0].reason = "another reason"
        guard case .redo(let why) = ResumeCheck.evaluate(job: edited, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("a changed reason must redo")
        }
        XCTAssertTrue(why.contains("analyst"), why)
        edited.keep = []
        guard case .redo = ResumeCheck.evaluate(job: edited, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("no keep must redo")
        }
    }

    /// Face A in frames 1-10, nobody in 11-20, face B where A was in 21-30: the tracker carries
    /// A's track through the gap (`max_gap`) and matches B to it by position. Keeping that track
    /// (A, the requester) would leave B visible: the run says so, naming the frame where the
    /// track was picked up, and the review page marks it (ReviewTests).
    func testKeepingATrackPickedUpAgainAfterAGapWarns() throws {
        let url = dir.appendingPathComponent("a-gap-b.mp4")
        try Fixtures.twoFacesOverTestPattern(url, frames: 30, fps: 15, sizes: (100, 100),
                                             overlays: ("270:120:enable='lte(n,9)'", "270:120:enable='gte(n,20)'"))
        let place = Box(x: 270, y: 120, w: 100, h: 100)
        let clip = ThreeFaces(url: url, faces: [place], times: try Fixtures.framePTS(url))
        let first = try job(clip, output: "out/a-gap-b.mp4")
        let (r1, _) = try run(first)
        XCTAssertFalse(r1.tracksNote?.contains("warning") ?? false, r1.tracksNote ?? "")
        let file = try tracksFile(first)
        let id = try trackID(over: place, in: file)
        let track = try XCTUnwrap(file.tracks.first { $0.id == id })
        let detected = Set(track.boxes.filter { $0.source == .detected }.map(\.frame))
        XCTAssertTrue(detected.isSuperset(of: [1, 10, 21, 30]) && detected.isDisjoint(with: 11...20),
                      "the premise: one track, detected on A and on B, nothing between: \(detected.sorted())")
        XCTAssertEqual(track.pickUps, [21: 10])

        let kept = try job(clip, output: "out/kept.mp4",
                           extra: #""keep": [{"track": \#(id), "reason": "the requester"}], \#(try reviewed(first))"#)
        let (r2, p2) = try run(kept)
        XCTAssertEqual(p2.counts.tracksReused, true)
        let note = try XCTUnwrap(r2.tracksNote)
        XCTAssertTrue(note.contains("warning: kept track picked up again after a gap")
                      && note.contains("track \(id) at frame 21 (after 10 frames without detection)"), note)
    }

    /// A tracks file changed after it was written (a track's boxes removed by hand) is not used:
    /// the job detects again and every face is redacted.
    func testEditedTracksFileIsNotReusedAndTheJobDetectsAgain() throws {
        let clip = try Self.clip()
        let first = try job(clip, output: "out/a.mp4")
        _ = try run(first)
        let url = try XCTUnwrap(first.tracks)
        var file = try tracksFile(first)
        let removed = try trackID(over: clip.faces[0], in: file)
        file.tracks.removeAll { $0.id == removed }
        try JSONFiles.write(file, to: url)

        let second = try job(clip, output: "out/b.mp4")
        let (result, p) = try run(second)
        XCTAssertEqual(p.counts.tracksReused, false)
        XCTAssertEqual(p.counts.detectedFrames, 24)
        XCTAssertTrue(result.tracksNote?.contains("seal") ?? false, result.tracksNote ?? "no note")
        let rewritten = try tracksFile(second)
        XCTAssertTrue(rewritten.tracks.contains { $0.id == removed }, "the tracks file is written again, complete")
        let input = try Fixtures.grayFrames(clip.url), out = try Fixtures.grayFrames(second.output)
        for i in 0..<24 {
            let (ok, why) = isPainted(input.frames[i], out.frames[i], Fixtures.central(clip.faces[0], fraction: 0.56, width: clip.width, height: clip.height), width: clip.width)
            XCTAssertTrue(ok, "frame \(i + 1): face 0 \(why)")
        }

        // The file names the build that made it (this test bundle). A file sealed with this key
        // by another build of this version is reused as it is: detecting again could renumber
        // the tracks a `keep` list names.
        var otherBuild = try tracksFile(second)
        XCTAssertEqual(otherBuild.executableSHA256, redactExecutableSHA256)
        XCTAssertEqual(otherBuild.executableSHA256?.count, 64)
        otherBuild.executableSHA256 = String(repeating: "0", count: 64)
        try TracksReuse.seal(&otherBuild, key: key)
        try JSONFiles.write(otherBuild, to: url)
        let fourth = try job(clip, output: "out/d.mp4")
        let (r4, p4) = try run(fourth)
        XCTAssertEqual(p4.counts.tracksReused, true, r4.tracksNote ?? "no note")
        XCTAssertEqual(try tracksFile(fourth).executableSHA256, String(repeating: "0", count: 64), "reused, not written again")

        // A file that is not JSON at all: detected again too.
        try Data("{\"version\": 1, \"tracks\": [".utf8).write(to: url)
        let third = try job(clip, output: "out/c.mp4")
        let (r3, p3) = try run(third)
        XCTAssertEqual(p3.counts.tracksReused, false)
        XCTAssertTrue(r3.tracksNote?.contains("cannot be read") ?? false, r3.tracksNote ?? "no note")
    }

    // MARK: - boxes and exclude_regions

    /// A manual box over background (no detection there) is painted in exactly the frames of
    /// its time range, start included and end excluded; a keyframed one moves between its
    /// keyframes; an excluded region is never painted by the machine, while the face under it is
    /// painted everywhere else, and a manual box over it is painted all the same.
    func testManualBoxesAndExcludedRegion() throws {
        let clip = try Self.clip()
        // 0.4 s and 0.8 s are frame times (frames 7 and 13 at 15 fps).
        XCTAssertEqual(clip.times[6], 0.4, accuracy: 1e-9)
        XCTAssertEqual(clip.times[12], 0.8, accuracy: 1e-9)
        let fixed = Box(x: 300, y: 10, w: 80, h: 60)
        // Over the top half of face 2 (x 500-600, y 120-220) and the background above it.
        let excluded = Box(x: 480, y: 60, w: 140, h: 110)
        // Inside the excluded region, from 1.0 s to the end.
        let overExcluded = Box(x: 490, y: 70, w: 40, h: 30)
        let extra = #"""
        "boxes": [
          {"class": "face", "start": 0.4, "end": 0.8, "box": [300, 10, 80, 60], "reason": "a bystander's face the detector missed"},
          {"class": "plate", "start": 0.2, "end": 1.4, "keyframes": [{"time": 0.2, "box": [20, 250, 60, 30]}, {"time": 1.2, "box": [120, 290, 60, 30]}], "reason": "a plate"},
          {"class": "face", "start": 1.0, "end": 100, "box": [490, 70, 40, 30], "reason": "a reflection in the overlay"}
        ],
        "exclude_regions": [{"box": [480, 60, 140, 110], "reason": "camera overlay"}]
        """#
        let j = try job(clip, output: "out/manual.mp4", tracks: nil, extra: extra)
        XCTAssertEqual(j.manualBoxes.count, 3)
        let (result, p) = try run(j)
        XCTAssertNil(p.counts.tracksReused, "a job without a tracks file")

        let input = try Fixtures.grayFrames(clip.url), out = try Fixtures.grayFrames(j.output)
        let w = clip.width
        var problems: [String] = []
        var fixedFrames: [Int] = []
        for i in 0..<24 {
            let a = input.frames[i], b = out.frames[i], t = clip.times[i]
            // The fixed box: painted exactly when 0.4 <= t < 0.8.
            let (painted, why) = isPainted(a, b, rect(fixed, clip), width: w)
            let (kept, whyKept) = isKept(a, b, rect(fixed, clip), width: w)
            if painted { fixedFrames.append(i + 1) }
            if t >= 0.4 && t < 0.8 ? !painted : !kept {
                problems.append("frame \(i + 1) (t \(t)): fixed box " + (t >= 0.4 && t < 0.8 ? "not painted: \(why)" : "changed: \(whyKept)"))
            }
            // The keyframed plate box: where interpolation puts it (held after the last keyframe).
            if t >= 0.2 && t < 1.4 {
                let f = min(1, (t - 0.2) / 1.0)
                let at = Box(x: 20, y: 250, w: 60, h: 30).interpolated(to: Box(x: 120, y: 290, w: 60, h: 30), t: f)
                let (ok, why) = isPainted(a, b, rect(at, clip), width: w)
                if !ok { problems.append("frame \(i + 1) (t \(t)): keyframed box at \(rect(at, clip)) not painted: \(why)") }
            } else {
                let start = Box(x: 20, y: 250, w: 60, h: 30)
                let (ok, why) = isKept(a, b, rect(start, clip), width: w)
                if !ok { problems.append("frame \(i + 1) (t \(t)): keyframed box's place changed before its range: \(why)") }
            }
            // The excluded region, less the manual box inside it when that is in force: as the input.
            let region = rect(excluded, clip)
            let manualOn = t >= 1.0
            let m = rect(overExcluded, clip)
            var sum = 0, n = 0
            for y in region.y0..<region.y1 {
                for x in region.x0..<region.x1 where !(manualOn && x >= m.x0 - 1 && x < m.x1 + 1 && y >= m.y0 - 1 && y < m.y1 + 1) {
                    sum += abs(Int(a[y * w + x]) - Int(b[y * w + x]))
                    n += 1
                }
            }
            let regionChange = Double(sum) / Double(max(1, n))
            if regionChange >= 4 { problems.append("frame \(i + 1): excluded region changed by \(fmt(regionChange))") }
            if manualOn {
                let (ok, why) = isPainted(a, b, m, width: w)
                if !ok { problems.append("frame \(i + 1) (t \(t)): manual box over the excluded region not painted: \(why)") }
            }
            // Face 2 below the region is still redacted (a band of its lower part).
            let lower = Fixtures.Rect(x0: 525, y0: 175, x1: 575, y1: 200)
            let (low, whyLow) = isPainted(a, b, lower, width: w)
            if !low { problems.append("frame \(i + 1): face 2 below the excluded region not redacted: \(whyLow)") }
            // Faces 0 and 1 are redacted as usual.
            for k in 0..<2 {
                let (ok, why) = isPainted(a, b, Fixtures.central(clip.faces[k], fraction: 0.56, width: w, height: clip.height), width: w)
                if !ok { problems.append("frame \(i + 1): face \(k) not redacted: \(why)") }
            }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(12).joined(separator: "\n"))
        XCTAssertEqual(fixedFrames, Array(7...12), "frames painted by the fixed box")

        // The receipt: every decision with its reason and what it did.
        let a = try XCTUnwrap(p.analyst)
        XCTAssertEqual(a.keep, [])
        XCTAssertEqual(a.boxes.count, 3)
        XCTAssertEqual(a.boxes[0].box, [300, 10, 80, 60])
        XCTAssertNil(a.boxes[0].keyframes)
        XCTAssertEqual(a.boxes[0].reason, "a bystander's face the detector missed")
        XCTAssertEqual(a.boxes[0].framesPainted, 6)
        XCTAssertEqual(a.boxes[0].firstFrame, 7)
        XCTAssertEqual(a.boxes[0].lastFrame, 12)
        XCTAssertEqual(a.boxes[1].objectClass, .plate)
        XCTAssertEqual(a.boxes[1].keyframes?.count, 2)
        XCTAssertEqual(a.boxes[1].framesPainted, clip.times.filter { $0 >= 0.2 && $0 < 1.4 }.count)
        XCTAssertEqual(a.boxes[2].framesPainted, clip.times.filter { $0 >= 1.0 }.count)
        XCTAssertEqual(a.excludeRegions.count, 1)
        XCTAssertEqual(a.excludeRegions[0].reason, "camera overlay")
        XCTAssertEqual(a.excludeRegions[0].boxesClipped + a.excludeRegions[0].boxesNotPainted, 24, "face 2's box overlaps it in every frame")
        let manualPainted = a.boxes.map(\.framesPainted).reduce(0, +)
        XCTAssertEqual(p.counts.boxSources?["manual"], manualPainted)
        XCTAssertEqual(result.counts.boxSources?["manual"], manualPainted)
        XCTAssertEqual(p.counts.byClass?["plate"]?.redactedBoxes, a.boxes[1].framesPainted)
        // The recorded decisions are the manifest's.
        XCTAssertEqual(a.decisions, AnalystRecord.Decisions(j))
    }

    // MARK: - Errors

    /// A kept track that is not in the tracks fails the job naming the manifest key (exit 65),
    /// and leaves nothing at the output path; so does a manual box outside the picture.
    func testUnknownKeptTrackAndBoxOutsideThePictureFailTheJob() throws {
        let clip = try Self.clip()
        // Detecting (the reviewed tracks file was deleted, and detecting again with the same
        // settings makes the same file): found at the end, before anything is committed.
        let first = try job(clip, output: "first/first.mp4")
        _ = try run(first)
        let named = try reviewed(first)
        try FileManager.default.removeItem(at: XCTUnwrap(first.tracks))
        let a = try job(clip, output: "out/a.mp4", extra: #""keep": [{"track": 1, "reason": "x"}, {"track": 99, "reason": "typo"}], \#(named)"#)
        XCTAssertThrowsError(try run(a)) { error in
            guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "case.json")
            XCTAssertEqual(jp, "$.jobs[0].keep[1].track")
            XCTAssertTrue(detail.contains("track 99"), detail)
            XCTAssertEqual((error as? RedactError)?.exitCode, 65)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.output.path))
        XCTAssertEqual(Fixtures.listing(a.output.deletingLastPathComponent()), [])
        // The tracks file was still written: the next attempt reuses it and fails before rendering.
        let b = try job(clip, output: "out/b.mp4", extra: #""keep": [{"track": 99, "reason": "typo"}], \#(named)"#)
        XCTAssertThrowsError(try run(b)) { error in
            guard case .badJSON(_, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(jp, "$.jobs[0].keep[0].track")
            XCTAssertTrue(detail.contains("tracks.json"), detail)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.output.path))

        let c = try job(clip, output: "out/c.mp4", tracks: nil,
                        extra: #""boxes": [{"class": "face", "start": 0, "end": 1, "keyframes": [{"time": 0, "box": [0, 0, 10, 10]}, {"time": 1, "box": [600, 300, 50, 20]}], "reason": "x"}]"#)
        XCTAssertThrowsError(try run(c)) { error in
            guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "case.json")
            XCTAssertEqual(jp, "$.jobs[0].boxes[0].keyframes[1].box")
            XCTAssertTrue(detail.contains("640x360"), detail)
            XCTAssertFalse("\(error)".contains("\n"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.output.path))

        // A manual box whose range holds no frame (seconds given as minutes, say).
        let d = try job(clip, output: "out/d.mp4", tracks: nil, extra: #""boxes": [{"class": "face", "start": 90, "end": 120, "box": [0, 0, 10, 10], "reason": "x"}]"#)
        XCTAssertThrowsError(try run(d)) { error in
            guard case .badJSON(_, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(jp, "$.jobs[0].boxes[0]")
            XCTAssertTrue(detail.contains("covers no frame"), detail)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.output.path))
    }

    /// `keep` ids bind to the tracks file they were read from (`tracks_sha256`). A detector
    /// setting changed after review: the file cannot be reused, and the job fails (exit 65)
    /// naming the key, without detecting, so the reviewed file (which an earlier output's receipt
    /// names) is not replaced. Without `keep` the job detects again; painting the old ids from
    /// that new file fails before rendering; naming the new file (after a new review) lets the
    /// job through. With no tracks file at all, a new detection must be the reviewed file.
    func testKeptIdsPaintOnlyFromTheReviewedTracksFile() throws {
        let clip = try Self.clip()
        let first = try job(clip, output: "first/all.mp4")
        _ = try run(first)
        let tracksURL = try XCTUnwrap(first.tracks)
        let reviewedSHA = try FileDigest.sha256(of: tracksURL)
        let middle = try trackID(over: clip.faces[1], in: try tracksFile(first))
        let keep = #""keep": [{"track": \#(middle), "reason": "the requester"}]"#
        let changed = #"{"every": 1, "threshold": 0.25}"#
        func assertFails(_ j: ManifestJob, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try run(j), file: file, line: line) { error in
                guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertEqual(path, "case.json", file: file, line: line)
                XCTAssertEqual(jp, "$.jobs[0].tracks_sha256", file: file, line: line)
                XCTAssertEqual((error as? RedactError)?.exitCode, 65, file: file, line: line)
                XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
                for f in fragments { XCTAssertTrue(detail.contains(f), detail, file: file, line: line) }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: j.output.path), "nothing at the output path", file: file, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: Receipts.receiptURL(for: j.output).path), file: file, line: line)
        }

        // 1. Another threshold after review: refused before detecting; the reviewed file stays.
        let a = try job(clip, output: "out/a.mp4", detector: changed, extra: keep + #", "tracks_sha256": "\#(reviewedSHA)""#)
        assertFails(a, ["cannot be reused (detector settings changed)", "remove keep and tracks_sha256"])
        XCTAssertEqual(try FileDigest.sha256(of: tracksURL), reviewedSHA, "the reviewed file is not replaced")

        // 2. Without keep, the job detects again and replaces the file.
        let fresh = try job(clip, output: "out/fresh.mp4", detector: changed)
        let (_, pFresh) = try run(fresh)
        XCTAssertEqual(pFresh.counts.tracksReused, false)
        let newSHA = try FileDigest.sha256(of: tracksURL)
        XCTAssertNotEqual(newSHA, reviewedSHA)
        let redetected = try tracksFile(fresh)
        XCTAssertEqual(redetected.detector?.threshold, 0.25)

        // 3. The old ids with the old SHA-256: the file would be reused, but it is not the
        //    reviewed one: fails before rendering.
        assertFails(a, ["are not the ones reviewed", "has SHA-256 \(newSHA), not \(reviewedSHA)"])
        XCTAssertEqual(try FileDigest.sha256(of: tracksURL), newSHA, "the file is not written again")

        // 3. After a new review, naming the new file: painted from it, the kept face visible.
        let newMiddle = try trackID(over: clip.faces[1], in: redetected)
        let b = try job(clip, output: "out/b.mp4", detector: changed,
                        extra: #""keep": [{"track": \#(newMiddle), "reason": "the requester"}], "tracks_sha256": "\#(newSHA)""#)
        let (_, p) = try run(b)
        XCTAssertEqual(p.counts.tracksReused, true)
        XCTAssertEqual(p.tracksFile?.sha256, newSHA)
        XCTAssertEqual(p.analyst?.keep.map(\.track), [newMiddle])
        let input = try Fixtures.grayFrames(clip.url), out = try Fixtures.grayFrames(b.output)
        XCTAssertEqual(out.frames.count, 24)
        for i in 0..<min(24, out.frames.count) {
            let (kept, why) = isKept(input.frames[i], out.frames[i], rect(clip.faces[1], clip), width: clip.width)
            XCTAssertTrue(kept, "frame \(i + 1): kept face \(why)")
            for k in [0, 2] {
                let (painted, why) = isPainted(input.frames[i], out.frames[i], Fixtures.central(clip.faces[k], fraction: 0.56, width: clip.width, height: clip.height), width: clip.width)
                XCTAssertTrue(painted, "frame \(i + 1): face \(k) \(why)")
            }
        }

        // 4. Up to date as it is; not once the tracks file beside it is another one, nor when the
        //    manifest names another file.
        let registry = try Fixtures.registry()
        guard case .upToDate = ResumeCheck.evaluate(job: b, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("unchanged job must be up to date")
        }
        var renamed = b
        renamed.reviewedTracks?.sha256 = reviewedSHA
        guard case .redo(let why) = ResumeCheck.evaluate(job: renamed, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("another reviewed file must redo")
        }
        XCTAssertTrue(why.contains("reviewed"), why)
        var edited = try tracksFile(b)
        edited.tracks.removeAll { $0.id != newMiddle }
        try TracksReuse.seal(&edited, key: key)
        try JSONFiles.write(edited, to: XCTUnwrap(b.tracks))
        guard case .redo = ResumeCheck.evaluate(job: b, publicKey: key.publicKey, registry: registry) else {
            return XCTFail("a tracks file that is not the reviewed one beside the output must redo")
        }

        // 5. No tracks file at all: the job detects, keeps the new file for review, and fails
        //    unless it is the reviewed one (another threshold: it is not).
        try FileManager.default.removeItem(at: tracksURL)
        let c = try job(clip, output: "out/c.mp4", detector: #"{"every": 1, "threshold": 0.3}"#,
                        extra: #""keep": [{"track": \#(newMiddle), "reason": "the requester"}], "tracks_sha256": "\#(newSHA)""#)
        assertFails(c, ["were detected again (no tracks file yet) and are not the ones reviewed"])
        XCTAssertEqual(try tracksFile(c).detector?.threshold, 0.3, "the new detection is kept for review")
    }

    // MARK: - The command line

    /// The analyst's loop with the `redact` executable: run, edit `keep`, run again (the job is
    /// redone without detecting), verify (the decisions are shown), and the receipt still
    /// verifies without redact (scripts/verify_receipt.py) when Python can.
    func testRunEditRunVerifyFromTheCommandLine() throws {
        _ = try Fixtures.requireBinary()
        let clip = try Self.clip()
        let keyURL = dir.appendingPathComponent("k.key")
        XCTAssertEqual(try Fixtures.redact(["keygen", "-o", keyURL.path]).status, 0)
        let manifest = dir.appendingPathComponent("case.json")
        func write(_ extra: String) throws {
            let json = #"{"version": 1, "signing_key": "k.key", "jobs": [{"id": "c", "input": "\#(clip.url.path)", "output": "out/c.mp4", "tracks": "out/c.tracks.json"\#(extra)}]}"#
            try Data(json.utf8).write(to: manifest)
        }
        func events(_ r: Fixtures.ProcessResult) -> [[String: Any]] {
            r.stdoutText.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
        try write("")
        var r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var done = try XCTUnwrap(events(r).first { $0["event"] as? String == "job_done" })
        XCTAssertTrue((done["tracks"] as? String ?? "").contains("detecting: no tracks file yet"), "\(done)")
        XCTAssertEqual((done["counts"] as? [String: Any])?["tracks_reused"] as? Bool, false)

        let file = try JSONFiles.read(TracksFile.self, from: dir.appendingPathComponent("out/c.tracks.json"))
        let middle = try trackID(over: clip.faces[1], in: file)
        let sha = try FileDigest.sha256(of: dir.appendingPathComponent("out/c.tracks.json"))
        try write(#", "keep": [{"track": \#(middle), "reason": "the requester"}], "tracks_sha256": "\#(sha)""#)
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let started = try XCTUnwrap(events(r).first { $0["event"] as? String == "job_started" })
        XCTAssertTrue((started["redo"] as? String ?? "").contains("analyst decisions changed"), "\(started)")
        done = try XCTUnwrap(events(r).first { $0["event"] as? String == "job_done" })
        XCTAssertTrue((done["tracks"] as? String ?? "").contains("reused"), "\(done)")
        XCTAssertEqual((done["counts"] as? [String: Any])?["detected_frames"] as? Int, 0)
        // Unchanged: skipped.
        r = try Fixtures.redact(["run", manifest.path, "--json"])
        XCTAssertEqual(events(r).compactMap { $0["event"] as? String }.filter { $0.hasPrefix("job_") }, ["job_skipped"])

        let output = dir.appendingPathComponent("out/c.mp4")
        let v = try Fixtures.redact(["verify", output.path, "--input", clip.url.path, "--trusted-key", keyURL.path + ".pub"])
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertTrue(v.stdoutText.contains("kept visible: track \(middle), frames "), v.stdoutText)
        XCTAssertTrue(v.stdoutText.contains(": the requester"), v.stdoutText)
        XCTAssertTrue(v.stdoutText.contains("tracks: c.tracks.json sha256 "), v.stdoutText)

        if (try? Fixtures.run("/usr/bin/env", ["python3", "-c", "import cryptography"]).status) == 0 {
            let py = try Fixtures.run("/usr/bin/env", ["python3", Fixtures.repoRoot.appendingPathComponent("scripts/verify_receipt.py").path,
                                                        output.path, "--public-key", keyURL.path + ".pub"])
            XCTAssertEqual(py.status, 0, py.stdoutText + py.stderr)
        }
    }

    // MARK: - Two outputs of one reviewed video

    /// A court copy and a public copy: two jobs with the same input and tracks file, run two at
    /// a time. On the first run (no decisions yet) the detector runs once for both; after review,
    /// with different `keep` lists naming the reviewed file, both paint from it. Each output has
    /// its own receipt.
    func testCourtAndPublicCopiesShareOneTracksFile() throws {
        let clip = try Self.clip()
        func batch(_ court: String, _ open: String) throws -> (Manifest, [String: ReceiptPredicate]) {
            let manifest = """
            {"version": 1, "jobs": [
              {"id": "court", "input": "\(clip.url.path)", "output": "out/court.mp4", "tracks": "side/shared.json"\(court)},
              {"id": "public", "input": "\(clip.url.path)", "output": "out/public.mp4", "tracks": "side/shared.json"\(open)}
            ]}
            """
            let m = try ManifestLoader.parse(Data(manifest.utf8), path: "case.json", baseDirectory: dir)
            let outcome = BatchRunner(manifest: m, registry: try Fixtures.registry(), signingKey: key, parallelJobs: 2).run { _ in }
            XCTAssertEqual(outcome.failed.mapValues(\.description), [:])
            XCTAssertEqual(outcome.done.count, 2)
            var receipts: [String: ReceiptPredicate] = [:]
            for j in m.jobs {
                receipts[j.id] = try Receipts.verify(output: j.output, input: j.input, trustedKey: key.publicKey).predicate
            }
            return (m, receipts)
        }
        // 1. Before review: every face painted in both; exactly one job detects.
        let (_, first) = try batch("", #", "render": {"style": "pixelate"}"#)
        let reused = first.values.map { $0.counts.tracksReused }
        XCTAssertEqual(reused.filter { $0 == false }.count, 1, "exactly one job detects: \(reused)")
        XCTAssertEqual(reused.filter { $0 == true }.count, 1, "the other reuses: \(reused)")
        XCTAssertEqual(first["court"]?.tracksFile?.sha256, first["public"]?.tracksFile?.sha256)

        // 2. Track ids and the file's SHA-256 as the analyst reads them from the review page.
        let shared = dir.appendingPathComponent("side/shared.json")
        let sha = try FileDigest.sha256(of: shared)
        XCTAssertEqual(first["court"]?.tracksFile?.sha256, sha)
        let file = try JSONFiles.read(TracksFile.self, from: shared)
        let ids = try clip.faces.map { try trackID(over: $0, in: file) }
        let (m, receipts) = try batch(
            #", "tracks_sha256": "\#(sha)", "keep": [{"track": \#(ids[0]), "reason": "the requester"}, {"track": \#(ids[1]), "reason": "the officer, for the court"}]"#,
            #", "tracks_sha256": "\#(sha)", "keep": [{"track": \#(ids[0]), "reason": "the requester"}]"#)
        XCTAssertEqual(receipts.values.map { $0.counts.tracksReused }, [true, true], "both paint from the reviewed file")
        XCTAssertEqual(receipts["court"]?.analyst?.keep.map(\.track), [ids[0], ids[1]])
        XCTAssertEqual(receipts["public"]?.analyst?.keep.map(\.track), [ids[0]])
        XCTAssertEqual(receipts["court"]?.tracksFile?.sha256, sha)
        XCTAssertEqual(receipts["public"]?.tracksFile?.sha256, sha)

        let input = try Fixtures.grayFrames(clip.url)
        let court = try Fixtures.grayFrames(m.jobs[0].output), open = try Fixtures.grayFrames(m.jobs[1].output)
        for i in 0..<24 {
            for (k, face) in clip.faces.enumerated() {
                let core = Fixtures.central(face, fraction: 0.56, width: clip.width, height: clip.height)
                let (courtKept, c) = isKept(input.frames[i], court.frames[i], core, width: clip.width)
                let (publicKept, p) = isKept(input.frames[i], open.frames[i], core, width: clip.width)
                XCTAssertEqual(courtKept, k < 2, "court copy, frame \(i + 1), face \(k): \(c)")
                XCTAssertEqual(publicKept, k == 0, "public copy, frame \(i + 1), face \(k): \(p)")
            }
        }
    }
}

/// The manifest keys `keep`, `boxes` and `exclude_regions`, and tracks files shared by jobs.
final class AnalystManifestTests: XCTestCase {
    func parse(_ extra: String, jobs: String? = nil) throws -> Manifest {
        let json = jobs ?? #"{"version": 1, "jobs": [{"id": "a", "input": "in.mp4", "output": "out.mp4", \#(extra)}]}"#
        return try ManifestLoader.parse(Data(json.utf8), path: "m.json", baseDirectory: URL(fileURLWithPath: "/data"))
    }

    func assertRejected(_ extra: String, at jsonPath: String, _ fragment: String, jobs: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(extra, jobs: jobs), file: file, line: line) { error in
            guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(path, "m.json", file: file, line: line)
            XCTAssertEqual(jp, jsonPath, detail, file: file, line: line)
            XCTAssertTrue(detail.contains(fragment), detail, file: file, line: line)
            XCTAssertEqual((error as? RedactError)?.exitCode, 65, file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
        }
    }

    func testDecisionsParse() throws {
        let job = try parse(#"""
        "keep": [{"track": 3, "reason": "requester"}], "tracks": "t.json", "tracks_sha256": "\#(String(repeating: "ab", count: 32))",
        "boxes": [{"class": "plate", "start": 1, "end": 2.5, "box": [10, 20, 30, 40.5], "reason": "plate"},
                  {"class": "face", "start": 0, "end": 4, "keyframes": [{"time": 1, "box": [0, 0, 10, 10]}, {"time": 3, "box": [100, 50, 30, 10]}], "reason": "k"}],
        "exclude_regions": [{"box": [0, 0, 640, 40], "reason": "overlay"}, {"box": [1, 2, 3, 4], "start": 2, "reason": "late"}]
        """#).jobs[0]
        XCTAssertEqual(job.keep, [KeepDecision(track: 3, reason: "requester")])
        XCTAssertEqual(job.keep[0].jsonPath, "$.jobs[0].keep[0]")
        XCTAssertEqual(job.reviewedTracks, ReviewedTracks(sha256: String(repeating: "ab", count: 32), jsonPath: "$.jobs[0].tracks_sha256"))
        XCTAssertEqual(job.manualBoxes[0], ManualBox(objectClass: .plate, start: 1, end: 2.5, shape: .fixed(Box(x: 10, y: 20, w: 30, h: 40.5)), reason: "plate"))
        XCTAssertEqual(job.manualBoxes[1].jsonPath, "$.jobs[0].boxes[1]")
        XCTAssertEqual(job.excludeRegions, [ExcludeRegion(box: Box(x: 0, y: 0, w: 640, h: 40), reason: "overlay"),
                                            ExcludeRegion(box: Box(x: 1, y: 2, w: 3, h: 4), start: 2, end: nil, reason: "late")])
        XCTAssertEqual(job.manifestPath, "m.json")

        // Keyframes: held before the first and after the last, linear between, nothing outside the range.
        let k = job.manualBoxes[1]
        XCTAssertEqual(k.box(at: 0), Box(x: 0, y: 0, w: 10, h: 10))
        XCTAssertEqual(k.box(at: 2), Box(x: 50, y: 25, w: 20, h: 10))
        XCTAssertEqual(k.box(at: 3.5), Box(x: 100, y: 50, w: 30, h: 10))
        XCTAssertNil(k.box(at: 4))
        XCTAssertNil(job.manualBoxes[0].box(at: 0.999))
        XCTAssertNotNil(job.manualBoxes[0].box(at: 1))
        XCTAssertNil(job.manualBoxes[0].box(at: 2.5))

        let none = try parse(#""tracks": "t.json""#).jobs[0]
        XCTAssertEqual(none.keep, [])
        XCTAssertNil(none.reviewedTracks)
        XCTAssertEqual(none.manualBoxes, [])
        XCTAssertEqual(none.excludeRegions, [])
    }

    func testBadDecisionsAreRejectedWithTheirPath() {
        assertRejected(#""keep": []"#, at: "$.jobs[0].keep", "non-empty array")
        assertRejected(#""keep": [{"track": 1}]"#, at: "$.jobs[0].keep[0].reason", "missing required key")
        assertRejected(#""keep": [{"track": 1, "reason": " "}]"#, at: "$.jobs[0].keep[0].reason", "non-empty string")
        assertRejected(#""keep": [{"track": 0, "reason": "x"}]"#, at: "$.jobs[0].keep[0].track", "integer from 1")
        assertRejected(#""keep": [{"track": 1.5, "reason": "x"}]"#, at: "$.jobs[0].keep[0].track", "not an integer")
        assertRejected(#""keep": [{"track": "3", "reason": "x"}]"#, at: "$.jobs[0].keep[0].track", "string")
        assertRejected(#""keep": [{"track": 2, "reason": "x"}, {"track": 2, "reason": "y"}]"#, at: "$.jobs[0].keep[1].track", "already kept by $.jobs[0].keep[0]")
        assertRejected(#""keep": [{"track": 2, "reason": "x", "why": 1}]"#, at: "$.jobs[0].keep[0].why", "unknown key")
        // Kept ids mean something only in the tracks file they were read from: a job with `keep`
        // names that file and its SHA-256.
        let sha = String(repeating: "c", count: 64)
        assertRejected(#""keep": [{"track": 2, "reason": "x"}]"#, at: "$.jobs[0].keep", "needs tracks and tracks_sha256")
        assertRejected(#""keep": [{"track": 2, "reason": "x"}], "tracks": "t.json""#, at: "$.jobs[0].keep", "needs tracks_sha256")
        assertRejected(#""keep": [{"track": 2, "reason": "x"}], "tracks_sha256": "\#(sha)""#, at: "$.jobs[0].tracks_sha256", "needs tracks")
        assertRejected(#""tracks": "t.json", "tracks_sha256": "\#(sha.uppercased())""#, at: "$.jobs[0].tracks_sha256", "64 lowercase hexadecimal")
        assertRejected(#""tracks": "t.json", "tracks_sha256": "\#(sha.dropLast())""#, at: "$.jobs[0].tracks_sha256", "64 lowercase hexadecimal")
        assertRejected(#""tracks": "t.json", "tracks_sha256": 7"#, at: "$.jobs[0].tracks_sha256", "64 lowercase hexadecimal")
        XCTAssertNoThrow(try parse(#""keep": [{"track": 2, "reason": "x"}], "tracks": "t.json", "tracks_sha256": "\#(sha)""#))

        let ok = #""start": 1, "end": 2, "reason": "x""#
        assertRejected(#""boxes": [{"class": "car", \#(ok), "box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].boxes[0].class", "\"face\" or \"plate\"")
        assertRejected(#""boxes": [{"start": 1, "end": 2, "reason": "x", "box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].boxes[0].class", "missing required key")
        assertRejected(#""boxes": [{"class": "face", "end": 2, "reason": "x", "box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].boxes[0].start", "missing required key")
        assertRejected(#""boxes": [{"class": "face", "start": 2, "end": 2, "reason": "x", "box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].boxes[0].end", "greater than start")
        assertRejected(#""boxes": [{"class": "face", \#(ok)}]"#, at: "$.jobs[0].boxes[0].box", "missing required key")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [0, 0, 1, 1], "keyframes": [{"time": 1, "box": [0, 0, 1, 1]}]}]"#, at: "$.jobs[0].boxes[0].keyframes", "not both")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [0, 0, 1]}]"#, at: "$.jobs[0].boxes[0].box", "four numbers")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [0, 0, 0, 1]}]"#, at: "$.jobs[0].boxes[0].box[2]", "greater than 0")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [-1, 0, 5, 1]}]"#, at: "$.jobs[0].boxes[0].box[0]", "from 0")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [0, 0, 5, 1e6]}]"#, at: "$.jobs[0].boxes[0].box[3]", "at most 100000")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "box": [0, "0", 5, 1]}]"#, at: "$.jobs[0].boxes[0].box[1]", "string")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "keyframes": []}]"#, at: "$.jobs[0].boxes[0].keyframes", "non-empty array")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "keyframes": [{"time": 0.5, "box": [0, 0, 1, 1]}]}]"#, at: "$.jobs[0].boxes[0].keyframes[0].time", "from 1 to 2")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "keyframes": [{"time": 1.5, "box": [0, 0, 1, 1]}, {"time": 1.5, "box": [0, 0, 1, 1]}]}]"#,
                       at: "$.jobs[0].boxes[0].keyframes[1].time", "increasing time order")
        assertRejected(#""boxes": [{"class": "face", \#(ok), "keyframes": [{"time": 1.5}]}]"#, at: "$.jobs[0].boxes[0].keyframes[0].box", "missing required key")
        assertRejected(#""boxes": [{"class": "face", "start": 1, "end": 2, "box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].boxes[0].reason", "missing required key")

        assertRejected(#""exclude_regions": [{"reason": "x"}]"#, at: "$.jobs[0].exclude_regions[0].box", "missing required key")
        assertRejected(#""exclude_regions": [{"box": [0, 0, 1, 1]}]"#, at: "$.jobs[0].exclude_regions[0].reason", "missing required key")
        assertRejected(#""exclude_regions": [{"box": [0, 0, 1, 1], "reason": "x", "start": 3, "end": 2}]"#, at: "$.jobs[0].exclude_regions[0].end", "greater than start")
        assertRejected(#""exclude_regions": [{"box": [0, 0, 1, 1], "reason": "x", "class": "face"}]"#, at: "$.jobs[0].exclude_regions[0].class", "unknown key")
    }

    /// Two jobs may share a tracks file only when it means the same to both.
    func testSharedTracksFileNeedsTheSameInputAndDetection() throws {
        func two(_ a: String, _ b: String) -> String {
            #"{"version": 1, "jobs": [{"id": "a", "output": "a.mp4", "tracks": "t.json", \#(a)}, {"id": "b", "output": "b.mp4", "tracks": "t.json", \#(b)}]}"#
        }
        let sha = String(repeating: "0", count: 63) + "1"
        let m = try parse("", jobs: two(#""input": "in.mp4", "keep": [{"track": 1, "reason": "x"}], "tracks_sha256": "\#(sha)""#,
                                        #""input": "./in.mp4", "render": {"style": "blur"}, "tracks_sha256": "\#(sha)""#))
        XCTAssertEqual(m.jobs[0].tracks, m.jobs[1].tracks)
        XCTAssertNoThrow(try parse("", jobs: two(#""input": "in.mp4""#, #""input": "in.mp4""#)))
        // One file has one SHA-256, given by every job sharing it or by none: a job that does not
        // name it could detect again and replace the file the other's kept ids were read from.
        let other = String(repeating: "0", count: 63) + "2"
        assertRejected("", at: "$.jobs[1].tracks_sha256", "differs from $.jobs[0].tracks_sha256",
                       jobs: two(#""input": "in.mp4", "tracks_sha256": "\#(sha)""#, #""input": "in.mp4", "tracks_sha256": "\#(other)""#))
        assertRejected("", at: "$.jobs[1].tracks_sha256", "differs from $.jobs[0].tracks_sha256",
                       jobs: two(#""input": "in.mp4", "keep": [{"track": 1, "reason": "x"}], "tracks_sha256": "\#(sha)""#, #""input": "in.mp4""#))
        assertRejected("", at: "$.jobs[1].tracks_sha256", "differs from $.jobs[0] (none)",
                       jobs: two(#""input": "in.mp4""#, #""input": "in.mp4", "tracks_sha256": "\#(sha)""#))
        assertRejected("", at: "$.jobs[1].tracks", "another input", jobs: two(#""input": "in.mp4""#, #""input": "other.mp4""#))
        assertRejected("", at: "$.jobs[1].tracks", "another detector or tracker configuration",
                       jobs: two(#""input": "in.mp4""#, #""input": "in.mp4", "detector": {"threshold": 0.3}"#))
        assertRejected("", at: "$.jobs[1].tracks", "another detector or tracker configuration",
                       jobs: two(#""input": "in.mp4""#, #""input": "in.mp4", "tracker": {"max_gap": 3}"#))
    }
}

/// `Redactor.apply` with excluded regions and manual boxes on a synthetic picture, pixel for
/// pixel, in a rotated frame (display boxes map to stored pixels through the display matrix).
final class AnalystRedactorTests: XCTestCase {
    func testExcludedRegionIsUntouchedAndManualBoxesWin() throws {
        // Stored 64x48, shown turned 90° clockwise: display 48x64.
        let g = FrameGeometry(storedWidth: 64, storedHeight: 48, quarterTurns: 1)
        let red = Redactor(style: .fill, padding: 0, faceShape: .box, geometry: g, path: "x")
        guard let frame = av_frame_alloc() else { return XCTFail("alloc") }
        defer { var p: UnsafeMutablePointer<AVFrame>? = frame; av_frame_free(&p) }
        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = 64
        frame.pointee.height = 48
        XCTAssertGreaterThanOrEqual(av_frame_get_buffer(frame, 0), 0)
        let (y, ys) = framePlane(frame, 0), (u, us) = framePlane(frame, 1), (v, vs) = framePlane(frame, 2)
        func original(_ c: Int, _ r: Int) -> UInt8 { UInt8(20 + (c * 3 + r * 5) % 200) }
        for r in 0..<48 { for c in 0..<64 { y[r * ys + c] = original(c, r) } }
        for r in 0..<24 { for c in 0..<32 { u[r * us + c] = 100; v[r * vs + c] = 90 } }

        // Display boxes -> stored (x: y, y: 48 - maxX, w: h, h: w).
        let machine = TrackedBox(trackID: 1, objectClass: .face, box: Box(x: 4, y: 4, w: 30, h: 30), score: 0.9, source: .detected)
        let inside = TrackedBox(trackID: 2, objectClass: .face, box: Box(x: 11, y: 11, w: 3, h: 3), score: 0.9, source: .detected)
        let manual = TrackedBox(trackID: -1, objectClass: .face, box: Box(x: 12, y: 12, w: 4, h: 4), score: 1, source: .manual)
        let region = Box(x: 10, y: 10, w: 15, h: 11)
        var excludedCalls: [String] = []
        var painted: [Int] = []
        let n = try red.apply([machine, inside], manual: [manual], exclusions: [(index: 4, box: region)], to: frame, frameNumber: 1,
                              fullRange: false, onPainted: { painted.append($0.trackID) }, onExcluded: { excludedCalls.append("\($0):\($1)") })
        XCTAssertEqual(n, 2)
        XCTAssertEqual(painted, [1, -1])
        XCTAssertEqual(excludedCalls.sorted(), ["4:false", "4:true"])

        // Stored rectangles, half-open: machine x 4..<34, y 14..<44; region x 10..<21, y 23..<38;
        // manual x 12..<16, y 32..<36.
        func inRect(_ c: Int, _ r: Int, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Bool { c >= x0 && c < x1 && r >= y0 && r < y1 }
        var wrong: [String] = []
        for r in 0..<48 {
            for c in 0..<64 {
                let want: UInt8
                if inRect(c, r, 12, 32, 16, 36) { want = 16 }
                else if inRect(c, r, 10, 23, 21, 38) { want = original(c, r) }
                else if inRect(c, r, 4, 14, 34, 44) { want = 16 }
                else { want = original(c, r) }
                if y[r * ys + c] != want { wrong.append("Y(\(c),\(r)) \(y[r * ys + c]) want \(want)") }
            }
        }
        // Chroma: samples wholly inside the region (x 5..<10, y 12..<19) are the input's except
        // under the manual box (x 6..<8, y 16..<18); the machine box's other samples are neutral.
        for r in 0..<24 {
            for c in 0..<32 {
                let want: (UInt8, UInt8)
                if inRect(c, r, 6, 16, 8, 18) { want = (128, 128) }
                else if inRect(c, r, 5, 12, 10, 19) { want = (100, 90) }
                else if inRect(c, r, 2, 7, 17, 22) { want = (128, 128) }
                else { want = (100, 90) }
                if (u[r * us + c], v[r * vs + c]) != want { wrong.append("UV(\(c),\(r)) \(u[r * us + c]),\(v[r * vs + c]) want \(want)") }
            }
        }
        XCTAssertTrue(wrong.isEmpty, "\(wrong.count) samples wrong: " + wrong.prefix(10).joined(separator: "; "))
    }
}
