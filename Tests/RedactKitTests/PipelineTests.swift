import Foundation
import XCTest
@testable import RedactKit

/// End-to-end: real faces in generated clips go through the real detector, tracker, renderer and
/// muxer; the outputs are checked with ffmpeg/ffprobe (independent of the code under test).
final class PipelineTests: TempDirectoryTestCase {
    // MARK: - Class fixtures (made once, on first use)

    private static var fixtureDirectory: URL?
    private static var clips: [String: Fixtures.Clip] = [:]
    private static let lock = NSLock()

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("pipeline-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        clips = [:]
        super.tearDown()
    }

    /// The clip named `name`, generated on first use and shared by the tests of this class.
    static func clip(_ name: String, _ configure: (inout Fixtures.ClipOptions) -> Void = { _ in }) throws -> Fixtures.Clip {
        lock.lock()
        defer { lock.unlock() }
        if let c = clips[name] { return c }
        try Fixtures.requireSetup()
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        var o = Fixtures.ClipOptions()
        o.name = name
        o.frames = 45
        configure(&o)
        let c = try Fixtures.makeClip(in: dir, o)
        clips[name] = c
        return c
    }

    /// 640x360, 15 fps, 3 s, testsrc2, face0 moving right and down, one AAC track.
    static func mainClip() throws -> Fixtures.Clip { try clip("main") }

    // MARK: - Per-test directory

    let key = SigningKey.generate()

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    @discardableResult
    func runJob(_ clip: Fixtures.Clip, output name: String = "out.mp4", tracks: URL? = nil,
                configure: (inout JobConfig) -> Void = { _ in }) throws -> (URL, JobResult) {
        var config = JobConfig()
        configure(&config)
        let output = dir.appendingPathComponent(name)
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        var job = Fixtures.job(input: clip.url, output: output, config: config)
        job.tracks = tracks
        let result = try runner.run(job)
        return (output, result)
    }

    // MARK: - Checks

    /// In every frame: the face's ground-truth box (central 80 %) is redacted in `style`, and a
    /// patch at least 100 px from the face is unchanged within encoder noise.
    func assertRedacted(_ clip: Fixtures.Clip, output: URL, style: RedactionStyle = .fill,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let input = try Fixtures.grayFrames(clip.url)
        let out = try Fixtures.grayFrames(output)
        XCTAssertEqual(input.frames.count, clip.frameCount, "fixture frame count", file: file, line: line)
        XCTAssertEqual(out.width, input.width, "display width", file: file, line: line)
        XCTAssertEqual(out.height, input.height, "display height", file: file, line: line)
        XCTAssertEqual(out.frames.count, input.frames.count, "output frame count", file: file, line: line)
        guard out.width == input.width, out.height == input.height, input.width == clip.width, input.height == clip.height else { return }
        let w = input.width
        var failures: [String] = []
        var worstFace = Double.infinity, worstFar = 0.0, worstSpread = 0.0
        for i in 0..<min(input.frames.count, out.frames.count, clip.boxes.count) {
            let a = input.frames[i], b = out.frames[i]
            let face = Fixtures.central(clip.boxes[i], fraction: 0.8, width: w, height: input.height)
            let change = Fixtures.meanAbsDiff(a, b, width: w, face)
            worstFace = min(worstFace, change)
            switch style {
            case .fill:
                // Opaque fill: the original face is gone (large change) and the region is flat.
                // The fixture's box is the whole pasted photo; faces are painted as an ellipse,
                // so flatness is checked on the square inside the ellipse inscribed in the
                // central 80 % (0.8 / sqrt 2 of the box): the eyes, nose and mouth.
                let core = Fixtures.central(clip.boxes[i], fraction: 0.56, width: w, height: input.height)
                let spread = Fixtures.stddev(b, width: w, core)
                worstSpread = max(worstSpread, spread)
                if change < 40 || spread > 6 {
                    failures.append("frame \(i + 1): face \(face) mean |out-in| \(fmt(change)), core \(core) stddev \(fmt(spread)) (want > 40 and < 6)")
                }
            case .pixelate, .blur:
                // Weaker styles: the face changes strongly and loses most of its fine detail.
                let before = Fixtures.detail(a, width: w, face), after = Fixtures.detail(b, width: w, face)
                worstSpread = max(worstSpread, after / max(before, 1e-9))
                if change < 8 || after > 0.5 * before {
                    failures.append("frame \(i + 1): face \(face) mean |out-in| \(fmt(change)), detail \(fmt(before)) -> \(fmt(after)) (want > 8 and halved)")
                }
            }
            guard let far = Fixtures.farPatch(from: clip.boxes[i], width: w, height: input.height) else {
                failures.append("frame \(i + 1): fixture has no patch 100 px from the face")
                continue
            }
            let farChange = Fixtures.meanAbsDiff(a, b, width: w, far)
            worstFar = max(worstFar, farChange)
            if farChange >= 4 {
                failures.append("frame \(i + 1): far patch \(far) changed by \(fmt(farChange)) (want < 4)")
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) frame problems (worst face change \(fmt(worstFace)), worst spread/detail ratio \(fmt(worstSpread)), worst far change \(fmt(worstFar))):\n"
            + failures.prefix(8).joined(separator: "\n"), file: file, line: line)
    }

    func fmt(_ v: Double) -> String { String(format: "%.2f", v) }

    func assertSameFrameTimes(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let pa = try Fixtures.framePTS(a), pb = try Fixtures.framePTS(b)
        XCTAssertFalse(pa.isEmpty, "no frame timestamps in \(a.lastPathComponent)", file: file, line: line)
        XCTAssertEqual(pa.count, pb.count, "frame count", file: file, line: line)
        let mismatches = zip(pa, pb).enumerated().filter { abs($0.element.0 - $0.element.1) > 1e-5 }
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) frames have other timestamps, first: "
            + mismatches.prefix(5).map { "frame \($0.offset + 1): in \($0.element.0) out \($0.element.1)" }.joined(separator: "; "),
            file: file, line: line)
    }

    func assertSameAudio(_ a: URL, _ b: URL, tracks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try Fixtures.streams(b, type: "audio").count, tracks, "audio stream count", file: file, line: line)
        for t in 0..<tracks {
            let ha = try Fixtures.audioPacketHashes(a, track: t), hb = try Fixtures.audioPacketHashes(b, track: t)
            XCTAssertFalse(ha.isEmpty, "fixture audio track \(t) has packets", file: file, line: line)
            XCTAssertEqual(ha, hb, "audio track \(t): packets (size, md5, side data) differ", file: file, line: line)
            let ta = try Fixtures.audioPacketTimes(a, track: t), tb = try Fixtures.audioPacketTimes(b, track: t)
            XCTAssertEqual(ta.count, tb.count, "audio track \(t): packet count", file: file, line: line)
            let moved = zip(ta, tb).filter { abs($0 - $1) > 1e-5 }.count
            XCTAssertEqual(moved, 0, "audio track \(t): \(moved) packets have other timestamps", file: file, line: line)
        }
    }

    // MARK: - 1. Moving face with audio

    func testMovingFaceIsRedactedInEveryFrameAndEverythingElseIsKept() throws {
        let clip = try Self.mainClip()
        let tracksURL = dir.appendingPathComponent("sidecar/tracks.json")
        let (output, result) = try runJob(clip, tracks: tracksURL)

        try assertRedacted(clip, output: output)
        // The job's tracks.json: made from this input, one entry per frame, and a box over the
        // face's centre in every frame.
        let tracks = try JSONDecoder().decode(TracksFile.self, from: Data(contentsOf: tracksURL))
        XCTAssertEqual(tracks.input.sha256, try FileDigest.sha256(of: clip.url))
        XCTAssertEqual(tracks.frameCount, clip.frameCount)
        XCTAssertEqual(tracks.tracker, JobConfig().tracker)
        let byFrame = tracks.boxesByFrame()
        for (i, face) in clip.boxes.enumerated() {
            let over = byFrame[i + 1]?.contains { $0.box.x <= face.centerX && $0.box.maxX >= face.centerX && $0.box.y <= face.centerY && $0.box.maxY >= face.centerY } ?? false
            XCTAssertTrue(over, "frame \(i + 1): no box in tracks.json over the face centre")
        }
        XCTAssertGreaterThan(tracks.tracks.flatMap(\.boxes).filter { $0.source == .detected }.count, clip.frameCount / 2)
        try assertSameFrameTimes(clip.url, output)
        try assertSameAudio(clip.url, output, tracks: 1)
        XCTAssertEqual(result.counts.frames, clip.frameCount)
        XCTAssertEqual(try Fixtures.streams(output, type: "video").first?["codec_name"] as? String, "h264")

        // The receipt checks out, also against the original and the key that signed it...
        let verified = try Receipts.verify(output: output, input: clip.url, trustedKey: key.publicKey)
        XCTAssertEqual(verified.predicate.output.sha256, try FileDigest.sha256(of: output))
        XCTAssertEqual(verified.predicate.counts.frames, clip.frameCount)
        // Per class and per box source, adding up to the totals.
        let counts = verified.predicate.counts
        XCTAssertEqual(counts.byClass?["face"]?.detections, counts.detections)
        XCTAssertEqual(counts.byClass?["face"]?.redactedBoxes, counts.redactedBoxes)
        XCTAssertEqual(counts.boxSources?.values.reduce(0, +), counts.redactedBoxes)
        XCTAssertGreaterThan(counts.boxSources?["detected"] ?? 0, clip.frameCount / 2)
        XCTAssertEqual(counts.boxSources?["detected"], tracks.tracks.flatMap(\.boxes).filter { $0.source == .detected }.count)
        // ...and not once one byte of the output changed.
        try Fixtures.flipByte(of: output)
        XCTAssertThrowsError(try Receipts.verify(output: output)) { error in
            guard case .verificationFailed? = error as? RedactError else { return XCTFail("expected verificationFailed, got \(error)") }
        }
    }

    /// A 720p clip runs its whole-frame passes between full-size ones on the coarse input
    /// (`detector.coarse_input_size`, default 960): the face is still redacted in every frame,
    /// and the receipt counts the coarse runs.
    func testA720pFaceIsRedactedInEveryFrameWithCoarsePasses() throws {
        let clip = try Self.clip("hd") { o in
            o.width = 1280
            o.height = 720
            o.faceSize = 118
            o.x0 = 300
            o.y0 = 200
            o.vx = 120
            o.vy = 45
            o.frames = 30
        }
        let (output, result) = try runJob(clip)
        try assertRedacted(clip, output: output)
        XCTAssertGreaterThan(result.counts.coarseInputFrames ?? 0, 0, "coarse runs: \(result.counts)")
        XCTAssertLessThan(result.counts.coarseInputFrames ?? 0, result.counts.detectedFrames - (result.counts.windowedFrames ?? 0),
                          "some whole-frame runs are at the full size: \(result.counts)")
    }

    /// The thread count libx264 wrote into its settings message (an SEI in the first frame:
    /// "... threads=N lookahead_threads=...").
    func x264Threads(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> Int? {
        let data = try Data(contentsOf: url)
        guard let text = String(data: data.prefix(1 << 20), encoding: .isoLatin1),
              let range = text.range(of: #" threads=(\d+) "#, options: .regularExpression) else {
            XCTFail("no x264 settings message in \(url.lastPathComponent)", file: file, line: line)
            return nil
        }
        return Int(text[range].dropFirst(" threads=".count).dropLast())
    }

    /// With the detector in the pipeline the codecs get the threads it leaves (`CodecThreads`:
    /// one encoder thread on two cores, fewer per job under `--jobs N`); painting known boxes
    /// leaves them to FFmpeg, whose libx264 takes one and a half per core.
    func testEncoderThreadsFollowTheDetector() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        XCTAssertEqual(CodecThreads(detecting: true, cores: 2), CodecThreads(detecting: true, cores: 3))
        XCTAssertEqual(CodecThreads(detecting: true, cores: 2).encoder, 1)
        XCTAssertEqual(CodecThreads(detecting: true, cores: 8).encoder, 4)
        XCTAssertEqual(CodecThreads(detecting: true, cores: 8).decoder, 2)
        XCTAssertEqual(CodecThreads(detecting: false, cores: 8).encoder, 0)
        // Under `--jobs N` a job counts on its share of the cores.
        XCTAssertEqual(JobRunner(registry: try Fixtures.registry(), signingKey: key).cores, cores)
        XCTAssertEqual(JobRunner(registry: try Fixtures.registry(), signingKey: key, parallelJobs: 2).cores, max(1, cores / 2))

        let clip = try Self.mainClip()
        let (detected, _) = try runJob(clip, output: "threads-detected.mp4")
        XCTAssertEqual(try x264Threads(detected), CodecThreads(detecting: true, cores: cores).encoder)
        try assertRedacted(clip, output: detected)

        let rendered = dir.appendingPathComponent("threads-rendered.mp4")
        try Stages.render(input: clip.url, tracks: try groundTruthTracks(clip), output: rendered, config: RenderConfig())
        let auto = try XCTUnwrap(try x264Threads(rendered))
        XCTAssertGreaterThanOrEqual(auto, cores, "FFmpeg's choice for libx264")
        if cores >= 2 { XCTAssertGreaterThan(auto, CodecThreads(detecting: true, cores: cores).encoder) }
    }

    // MARK: - 2. Audio tracks

    func testTwoAudioTracksAreBothCopiedInOrder() throws {
        let clip = try Self.clip("two-audio") { $0.audioTracks = 2; $0.face = 1; $0.frames = 30 }
        // The fixture's tracks differ, so a swap would be seen.
        XCTAssertNotEqual(try Fixtures.audioPacketHashes(clip.url, track: 0), try Fixtures.audioPacketHashes(clip.url, track: 1))
        let (output, _) = try runJob(clip)
        try assertSameAudio(clip.url, output, tracks: 2)
        try assertSameFrameTimes(clip.url, output)
        try assertRedacted(clip, output: output)
    }

    func testInputWithoutAudioGivesOutputWithoutAudio() throws {
        let clip = try Self.clip("no-audio") { $0.audioTracks = 0; $0.face = 2; $0.frames = 30; $0.background = .smptebars }
        XCTAssertEqual(try Fixtures.streams(clip.url, type: "audio").count, 0, "fixture")
        let (output, result) = try runJob(clip)
        XCTAssertEqual(try Fixtures.streams(output, type: "audio").count, 0)
        XCTAssertEqual(try Fixtures.streams(output).count, 1)
        XCTAssertEqual(result.counts.audioPackets, 0)
        try assertSameFrameTimes(clip.url, output)
        try assertRedacted(clip, output: output)
    }

    /// Memory stays flat: a job holds at most the tracker's look-ahead window, the two stage
    /// queues and a picture or two per stage, however long the clip and whether or not it has
    /// audio. (The queues used to keep up to 64 popped items each; without audio every one was a
    /// picture, and dev04 at 1080p peaked 140 MB higher than with its audio.)
    func testPicturesInFlightStayBoundedWithoutAudio() throws {
        let clip = try Self.clip("long-no-audio") { $0.audioTracks = 0; $0.face = 1; $0.frames = 200; $0.vx = 10; $0.vy = 5 }
        _ = VideoFrame.census.takePeak()
        let (output, result) = try runJob(clip, output: "long-no-audio.mp4")
        let peak = VideoFrame.census.takePeak()
        XCTAssertEqual(result.counts.frames, 200)
        let window = OnlineTracker(config: TrackerConfig()).windowLength + 1
        // The window, two queues, and what the stages hold: the frame each works on, the one the
        // detector image was made from, the decoder's last frames at the end of the input.
        let bound = window + 2 * JobRunner.framesInFlight + 8
        XCTAssertLessThanOrEqual(peak, bound, "decoded pictures alive at once")
        XCTAssertGreaterThanOrEqual(peak, window, "the render stage holds the tracker's window")
        try assertRedacted(clip, output: output)
    }

    // MARK: - 3. Variable frame rate

    func testVariableFrameRateKeepsEveryTimestamp() throws {
        let clip = try Self.clip("vfr") { $0.variableFrameRate = true; $0.face = 3; $0.frames = 30 }
        let inputTimes = try Fixtures.framePTS(clip.url)
        let gaps = Set(zip(inputTimes.dropFirst(), inputTimes).map { Int((($0 - $1) * 1000).rounded()) })
        XCTAssertGreaterThan(gaps.count, 1, "fixture must have irregular frame durations, has \(gaps)")
        XCTAssertEqual(try Probe.run(path: clip.url.path).streams.first { $0.type == "video" }?.variableFrameRate, true)

        let (output, _) = try runJob(clip)
        try assertSameFrameTimes(clip.url, output)
        try assertRedacted(clip, output: output)
    }

    // MARK: - 4. Rotation

    /// A clip stored turned and tagged with a display matrix, so players show it upright in
    /// `width`x`height`; the face must be redacted where the player shows it.
    func assertRotatedInputIsRedactedInDisplayCoordinates(rotation: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let clip = try Self.clip("rotated-\(rotation)") {
            $0.rotation = rotation
            if rotation % 180 == 90 {
                $0.width = 360
                $0.height = 640
                $0.x0 = 100
                $0.y0 = 150
                $0.vx = 30
                $0.vy = 60
            }
            $0.frames = 30
            $0.face = rotation / 90
        }
        let inputRotation = try Fixtures.rotation(clip.url)
        XCTAssertNotNil(inputRotation, "fixture has a display matrix", file: file, line: line)
        let stored = try Fixtures.streams(clip.url, type: "video").first
        XCTAssertEqual(stored?["width"] as? Int, rotation % 180 == 90 ? clip.height : clip.width, "fixture stored size", file: file, line: line)

        // probe reports the rotation as ffprobe does, and the size a player shows.
        let probed = try Probe.run(path: clip.url.path).streams.first { $0.type == "video" }
        XCTAssertEqual(((probed?.rotation ?? -1) + 360) % 360, ((inputRotation ?? 0) + 360) % 360, "probe rotation", file: file, line: line)
        XCTAssertEqual(probed?.displayWidth, clip.width, file: file, line: line)
        XCTAssertEqual(probed?.displayHeight, clip.height, file: file, line: line)

        let (output, _) = try runJob(clip)
        XCTAssertEqual(try Fixtures.rotation(output), inputRotation, "display matrix kept", file: file, line: line)
        try assertRedacted(clip, output: output, file: file, line: line)
        try assertSameFrameTimes(clip.url, output, file: file, line: line)
    }

    func testRotated90InputKeepsRotationAndIsRedactedInDisplayCoordinates() throws {
        try assertRotatedInputIsRedactedInDisplayCoordinates(rotation: 90)
    }

    func testRotated270InputKeepsRotationAndIsRedactedInDisplayCoordinates() throws {
        try assertRotatedInputIsRedactedInDisplayCoordinates(rotation: 270)
    }

    func testRotated180InputKeepsRotationAndIsRedactedInDisplayCoordinates() throws {
        try assertRotatedInputIsRedactedInDisplayCoordinates(rotation: 180)
    }

    // MARK: - 5. Weaker styles

    func testPixelateChangesTheFaceAndNothingFarFromIt() throws {
        let clip = try Self.mainClip()
        let (output, _) = try runJob(clip) { $0.render.style = .pixelate }
        try assertRedacted(clip, output: output, style: .pixelate)
        XCTAssertNoThrow(try Receipts.verify(output: output))
    }

    func testBlurChangesTheFaceAndNothingFarFromIt() throws {
        let clip = try Self.mainClip()
        let (output, _) = try runJob(clip) { $0.render.style = .blur }
        try assertRedacted(clip, output: output, style: .blur)
        XCTAssertNoThrow(try Receipts.verify(output: output))
    }

    // MARK: - 6. Failed jobs leave nothing behind

    func assertFailedJobLeavesNothing(input: URL, expectedExit: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        let outDir = dir.appendingPathComponent("out-\(input.lastPathComponent)")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let output = outDir.appendingPathComponent("result.mp4")
        let inputDirBefore = Fixtures.listing(input.deletingLastPathComponent())
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: output)), file: file, line: line) { error in
            XCTAssertEqual((error as? RedactError)?.exitCode, expectedExit, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(input.path), "error names the input: \(error)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output left behind", file: file, line: line)
        XCTAssertEqual(Fixtures.listing(outDir), [], "files left in the output directory", file: file, line: line)
        XCTAssertEqual(Fixtures.listing(input.deletingLastPathComponent()), inputDirBefore, "files left beside the input", file: file, line: line)

        // Output beside the input: the directory is exactly as before.
        let beside = input.deletingLastPathComponent().appendingPathComponent("beside.mp4")
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: beside)), file: file, line: line)
        XCTAssertEqual(Fixtures.listing(input.deletingLastPathComponent()), inputDirBefore, "files left beside the input", file: file, line: line)
    }

    func testTextFileInputFailsAndLeavesNothing() throws {
        let input = dir.appendingPathComponent("in/notes.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("this is not a video\n".utf8).write(to: input)
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
    }

    func testTruncatedMP4FailsAndLeavesNothing() throws {
        let input = dir.appendingPathComponent("in/half.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Fixtures.truncatedCopy(of: try Self.mainClip().url, to: input)
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
    }

    /// With the index at the front (faststart), a half file opens and fails part-way through
    /// decoding, after the output has been started.
    func testTruncatedFaststartMP4FailsPartWayAndLeavesNothing() throws {
        let full = dir.appendingPathComponent("faststart.mp4")
        try Fixtures.ffmpeg(["-i", try Self.mainClip().url.path, "-map", "0", "-c", "copy", "-movflags", "+faststart", full.path])
        let input = dir.appendingPathComponent("in/half-faststart.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Fixtures.truncatedCopy(of: full, to: input)
        XCTAssertGreaterThan(try Probe.run(path: input.path).streams.first?.frameCount ?? 0, 0, "fixture opens")
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
    }

    // MARK: - 7a. render and mux with hand-made tracks (no detector: exact boxes)

    /// tracks.json whose only track is the ground-truth face box in every frame.
    func groundTruthTracks(_ clip: Fixtures.Clip) throws -> URL {
        let frames = clip.boxes.enumerated().map { i, box in
            FrameBoxes(frame: i + 1, boxes: [TrackedBox(trackID: 1, objectClass: .face, box: box, score: 1, source: .manual)])
        }
        let file = TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: try FileDigest.sha256(of: clip.url)),
                              geometry: FrameGeometry(storedWidth: clip.width, storedHeight: clip.height, quarterTurns: 0),
                              model: nil, detector: nil, tracker: TrackerConfig())
        let url = dir.appendingPathComponent("gt-tracks.json")
        try JSONEncoder().encode(file).write(to: url)
        return url
    }

    /// Renders the main clip's ground-truth boxes with `config`; returns the clip and the grey
    /// frames of input and output, after checking that every frame was rendered and redacted.
    func renderGroundTruth(_ name: String, _ config: RenderConfig, file: StaticString = #filePath, line: UInt = #line)
        throws -> (clip: Fixtures.Clip, input: Fixtures.GrayFrames, out: Fixtures.GrayFrames) {
        let clip = try Self.mainClip()
        let output = dir.appendingPathComponent(name)
        let counts = try Stages.render(input: clip.url, tracks: try groundTruthTracks(clip), output: output, config: config)
        XCTAssertEqual(counts.frames, clip.frameCount, file: file, line: line)
        XCTAssertEqual(counts.redactedFrames, clip.frameCount, file: file, line: line)
        let input = try Fixtures.grayFrames(clip.url), out = try Fixtures.grayFrames(output)
        XCTAssertEqual(out.frames.count, input.frames.count, file: file, line: line)
        return (clip, input, out)
    }

    func testRenderFillsExactlyThePaddedBox() throws {
        var config = RenderConfig()
        config.padding = 0.2
        config.shape = .box
        let (clip, input, out) = try renderGroundTruth("gt.mp4", config)
        let w = clip.width, h = clip.height
        var problems: [String] = []
        for i in 0..<min(input.frames.count, out.frames.count) {
            let p = clip.boxes[i].padded(by: config.padding)
            // Inside the padded box, 2 px in from its edge: the fill (Y=16, limited-range black,
            // which ffmpeg's full-range gray shows as 0).
            let inner = Fixtures.Rect(x0: Int(p.x) + 2, y0: Int(p.y) + 2, x1: Int(p.maxX) - 2, y1: Int(p.maxY) - 2)
            let level = Fixtures.mean(out.frames[i], width: w, inner), spread = Fixtures.stddev(out.frames[i], width: w, inner)
            if level > 3 || spread > 2 {
                problems.append("frame \(i + 1): inside \(inner) mean \(fmt(level)) stddev \(fmt(spread)) (want black, flat)")
            }
            // Strips 8-24 px outside the padded box on each side: untouched (within encoder noise).
            let strips = [Fixtures.Rect(x0: Int(p.maxX) + 8, y0: Int(p.y), x1: min(w, Int(p.maxX) + 24), y1: Int(p.maxY)),
                          Fixtures.Rect(x0: max(0, Int(p.x) - 24), y0: Int(p.y), x1: Int(p.x) - 8, y1: Int(p.maxY)),
                          Fixtures.Rect(x0: Int(p.x), y0: Int(p.maxY) + 8, x1: Int(p.maxX), y1: min(h, Int(p.maxY) + 24)),
                          Fixtures.Rect(x0: Int(p.x), y0: max(0, Int(p.y) - 24), x1: Int(p.maxX), y1: Int(p.y) - 8)]
            for s in strips where s.x1 - s.x0 >= 4 && s.y1 - s.y0 >= 4 {
                let d = Fixtures.meanAbsDiff(input.frames[i], out.frames[i], width: w, s)
                if d > 5 { problems.append("frame \(i + 1): strip \(s) outside the padded box changed by \(fmt(d))") }
            }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(8).joined(separator: "\n"))
    }

    /// The default face outline: the ellipse inscribed in the padded box is black; the box's
    /// corners outside the ellipse keep the original picture.
    func testEllipseFillsTheInscribedEllipseAndKeepsTheBoxCorners() throws {
        var config = RenderConfig()
        config.padding = 0.2
        XCTAssertEqual(config.shape, .ellipse, "the ellipse is the default")
        let (clip, input, out) = try renderGroundTruth("ellipse.mp4", config)
        let w = clip.width, h = clip.height
        var problems: [String] = []
        for i in 0..<min(input.frames.count, out.frames.count) {
            let p = clip.boxes[i].padded(by: config.padding)
            // The square inscribed in the ellipse (half-side = radius / sqrt 2), 2 px in: black.
            let cx = p.x + p.w / 2, cy = p.y + p.h / 2, hx = p.w / 2 / 2.0.squareRoot() - 2, hy = p.h / 2 / 2.0.squareRoot() - 2
            let inner = Fixtures.Rect(x0: Int(cx - hx), y0: Int(cy - hy), x1: Int(cx + hx), y1: Int(cy + hy))
            let level = Fixtures.mean(out.frames[i], width: w, inner)
            if level > 3 { problems.append("frame \(i + 1): inside the ellipse mean \(fmt(level)) (want black)") }
            // A corner square of the box (a tenth of its size, 2 px in from the corner) lies
            // outside the ellipse: unchanged within encoder noise.
            let cw = Int(p.w / 10), ch = Int(p.h / 10)
            let corners = [Fixtures.Rect(x0: Int(p.x) + 2, y0: Int(p.y) + 2, x1: Int(p.x) + 2 + cw, y1: Int(p.y) + 2 + ch),
                           Fixtures.Rect(x0: Int(p.maxX) - 2 - cw, y0: Int(p.maxY) - 2 - ch, x1: Int(p.maxX) - 2, y1: Int(p.maxY) - 2)]
            for c in corners where c.x0 >= 0 && c.y0 >= 0 && c.x1 <= w && c.y1 <= h && cw >= 3 && ch >= 3 {
                let d = Fixtures.meanAbsDiff(input.frames[i], out.frames[i], width: w, c)
                if d > 6 { problems.append("frame \(i + 1): corner \(c) outside the ellipse changed by \(fmt(d))") }
            }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(8).joined(separator: "\n"))
    }

    /// A cron batch can pick up a file still being copied in: the input is hashed again at the
    /// end, and a job whose input changed meanwhile fails, with no output and no receipt.
    func testInputThatChangesDuringTheJobFailsIt() throws {
        let input = dir.appendingPathComponent("growing.mp4")
        try FileManager.default.copyItem(at: try Self.mainClip().url, to: input)
        let output = dir.appendingPathComponent("out.mp4")
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        final class Once: @unchecked Sendable {
            let lock = NSLock()
            var done = false
            func take() -> Bool { lock.lock(); defer { lock.unlock() }; if done { return false }; done = true; return true }
        }
        let once = Once()
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: output, config: JobConfig())) { p in
            guard p.framesDone >= 5, once.take(), let h = try? FileHandle(forWritingTo: input) else { return }
            h.seekToEndOfFile()
            h.write(Data("more of the upload".utf8))
            h.closeFile()
        }) { error in
            guard case .badMedia(let path, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, input.path)
            XCTAssertTrue(detail.contains("changed while it was being redacted"), detail)
        }
        XCTAssertTrue(once.done, "the input was appended to during the job")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: Receipts.receiptURL(for: output).path))
        XCTAssertFalse(Fixtures.listing(dir).contains { $0.hasPrefix(".") }, "hidden files left: \(Fixtures.listing(dir))")
    }

    func testMuxJoinsRenderedVideoWithTheOriginalAudioUnchanged() throws {
        let clip = try Self.mainClip()
        let video = dir.appendingPathComponent("video-only.mp4")
        var config = RenderConfig()
        config.keepAudio = false
        try Stages.render(input: clip.url, tracks: try groundTruthTracks(clip), output: video, config: config)
        XCTAssertEqual(try Fixtures.streams(video, type: "audio").count, 0, "keep_audio false drops audio")

        let joined = dir.appendingPathComponent("joined.mp4")
        try Stages.mux(video: video, audioFrom: clip.url, output: joined)
        try assertSameAudio(clip.url, joined, tracks: 1)
        try assertSameFrameTimes(clip.url, joined)
        // The video packets are the rendered ones, unchanged.
        let rendered = try Fixtures.packets(video, stream: "v:0"), muxed = try Fixtures.packets(joined, stream: "v:0")
        XCTAssertEqual(rendered.count, clip.frameCount)
        XCTAssertTrue(rendered.allSatisfy { $0.size > 0 }, "packet sizes read")
        XCTAssertEqual(rendered.map(\.size), muxed.map(\.size))
        XCTAssertEqual(rendered.map(\.pts), muxed.map(\.pts))
        // ...and so is how long the video lasts (the last frame keeps its duration).
        func videoDuration(_ u: URL) throws -> Double {
            Double(try Fixtures.streams(u, type: "video").first?["duration"] as? String ?? "") ?? -1
        }
        XCTAssertEqual(try videoDuration(joined), try videoDuration(video), accuracy: 0.001, "video stream duration after mux")
        XCTAssertEqual(try videoDuration(joined), try videoDuration(clip.url), accuracy: 0.001, "video stream duration vs input")

        // The two files swapped (the original's video packets would be copied), or a file joined
        // with itself: refused, one line, nothing written.
        for (v, a) in [(clip.url, video), (clip.url, clip.url), (video, video)] {
            let refused = dir.appendingPathComponent("refused.mp4")
            let r = try Fixtures.redact(["mux", v.path, "--audio-from", a.path, "-o", refused.path])
            XCTAssertEqual(r.status, 65, r.stderr)
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("swapped"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        }
        // An original without audio (the camera's pre-event buffer is often video-only) looks
        // like render's --no-audio output to those checks; joined with another file's audio, its
        // unredacted video would be copied. Refused: it was not encoded by redact.
        let videoOnlyOriginal = dir.appendingPathComponent("video-only-original.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0:v", "-c", "copy", videoOnlyOriginal.path])
        let refused = dir.appendingPathComponent("refused.mp4")
        let r = try Fixtures.redact(["mux", videoOnlyOriginal.path, "--audio-from", clip.url.path, "-o", refused.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(videoOnlyOriginal.path) && r.stderr.contains("not encoded by redact"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        // The tag is not proof: the original's video copied out with the tag written on it (an
        // adversarial review's case) is refused because its slices are the audio file's video.
        let tagged = dir.appendingPathComponent("tagged-original.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0:v", "-c", "copy",
                             "-metadata", "\(OutputMuxer.redactedVideoTag.key)=\(OutputMuxer.redactedVideoTag.value)", tagged.path])
        let taggedRun = try Fixtures.redact(["mux", tagged.path, "--audio-from", clip.url.path, "-o", refused.path])
        XCTAssertEqual(taggedRun.status, 65, taggedRun.stderr)
        XCTAssertEqual(taggedRun.stderrLines.count, 1, taggedRun.stderr)
        XCTAssertTrue(taggedRun.stderr.contains(tagged.path) && taggedRun.stderr.contains("slices are bytes of \(clip.url.path)'s video"), taggedRun.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        // What render and mux write carries the tag (and nothing of the input's own comment).
        for file in [video, joined] {
            let tags = (try Fixtures.ffprobeJSON(["-show_format", file.path])["format"] as? [String: Any])?["tags"] as? [String: String]
            XCTAssertEqual(tags?[OutputMuxer.redactedVideoTag.key], OutputMuxer.redactedVideoTag.value, file.lastPathComponent)
        }
    }

    // MARK: - 7. Standalone stages through the CLI

    func testStandaloneChainThroughTheCLI() throws {
        let clip = try Self.mainClip()
        let det = dir.appendingPathComponent("detections.json")
        let tracks = dir.appendingPathComponent("tracks.json")
        let output = dir.appendingPathComponent("chain.mp4")
        let keyPath = dir.appendingPathComponent("k.pem")

        var r = try Fixtures.redact(["detect", clip.url.path, "-o", det.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let firstLook = dir.appendingPathComponent("first-look.json")
        r = try Fixtures.redact(["detect", clip.url.path, "-o", firstLook.path, "--no-second-look"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try JSONDecoder().decode(DetectionsFile.self, from: Data(contentsOf: det)).detector.secondLook)
        XCTAssertFalse(try JSONDecoder().decode(DetectionsFile.self, from: Data(contentsOf: firstLook)).detector.secondLook)
        r = try Fixtures.redact(["track", det.path, "-o", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["render", clip.url.path, tracks.path, "-o", output.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["keygen", "-o", keyPath.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["sign", output.path, "--key", keyPath.path, "--input", clip.url.path, "--tracks", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["verify", output.path, "--input", clip.url.path, "--trusted-key", keyPath.path + ".pub"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // sign did not make the output: it finds what was dropped by comparing the two files.
        XCTAssertEqual(try Receipts.verify(output: output, input: clip.url).predicate.droppedStreams, [])
        let silent = dir.appendingPathComponent("silent.mp4")
        r = try Fixtures.redact(["render", clip.url.path, tracks.path, "-o", silent.path, "--no-audio"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["sign", silent.path, "--key", keyPath.path, "--input", clip.url.path, "--tracks", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Receipts.verify(output: silent, input: clip.url).predicate.droppedStreams, ["stream 1: audio aac"])

        try assertRedacted(clip, output: output)
        try assertSameFrameTimes(clip.url, output)
        try assertSameAudio(clip.url, output, tracks: 1)

        // sign says it made no output, and names no inference engine (none ran).
        let signed = try Receipts.verify(output: output, input: clip.url).predicate
        XCTAssertEqual(signed.tool.command, "sign")
        XCTAssertNil(signed.tool.inferenceEngine)
        r = try Fixtures.redact(["verify", output.path, "--input", clip.url.path])
        XCTAssertTrue(r.stdoutText.contains("signed by `redact sign`, which did not make this output"), r.stdoutText)

        // sign refuses an "output" that is the original, or its video copied into another file:
        // not re-encoded, so not redacted (a signed copy of the original verified OK). Also
        // remuxed into MPEG-TS, cut by a frame, or stripped of its SEI, which kept the packets'
        // slices and changed the one hash of the stream that was compared before.
        let copied = dir.appendingPathComponent("copied.mp4")
        let remuxed = dir.appendingPathComponent("remuxed.mp4")
        let transport = dir.appendingPathComponent("remuxed.ts")
        let cut = dir.appendingPathComponent("cut.mp4")
        let noSEI = dir.appendingPathComponent("no-sei.mp4")
        try FileManager.default.copyItem(at: clip.url, to: copied)
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0:v", "-c", "copy", remuxed.path])
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c", "copy", "-f", "mpegts", transport.path])
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c", "copy", "-frames:v", "\(clip.frameCount - 1)", cut.path])
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c", "copy", "-bsf:v", "filter_units=remove_types=6", noSEI.path])
        // And every slice's NAL header rewritten (nal_ref_idc 3 -> 1, in place): the same pictures,
        // other bytes, which a second review got signed when the header was compared. On an
        // original without B-frames, so that every slice is a reference one and none is left as
        // it was.
        let noB = dir.appendingPathComponent("no-b-frames.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c:v", "libx264", "-bf", "0", "-c:a", "copy", noB.path])
        let rewritten = dir.appendingPathComponent("ref-idc.mp4")
        var bytes = try Data(contentsOf: noB)
        let probed = try Fixtures.ffprobeJSON(["-select_streams", "v:0", "-show_entries", "packet=pos,size", noB.path])
        var rewrittenSlices = 0
        for p in probed["packets"] as? [[String: Any]] ?? [] {
            guard let pos = Int(p["pos"] as? String ?? ""), let size = Int(p["size"] as? String ?? "") else { continue }
            var at = pos
            while at + 4 <= pos + size {
                let length = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
                let header = at + 4
                if length > 0, header < pos + size, (1...5).contains(bytes[header] & 0x1f), bytes[header] & 0x60 != 0 {
                    bytes[header] = (bytes[header] & 0x9f) | 0x20
                    rewrittenSlices += 1
                }
                at = header + length
            }
        }
        XCTAssertEqual(rewrittenSlices, clip.frameCount)
        try bytes.write(to: rewritten)
        r = try Fixtures.redact(["sign", rewritten.path, "--key", keyPath.path, "--input", noB.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("not a redacted output"), r.stderr)
        for fake in [copied, remuxed, transport, cut, noSEI] {
            r = try Fixtures.redact(["sign", fake.path, "--key", keyPath.path, "--input", clip.url.path])
            XCTAssertEqual(r.status, 65, r.stderr)
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(fake.path) && r.stderr.contains("not a redacted output"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: fake.path + ".receipt.json"))
        }

        // With --tracks the receipt records their boxes as painted: a re-encode of the original
        // (every face visible) is refused, naming the first frame left unpainted.
        let reencoded = dir.appendingPathComponent("reencoded.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c:v", "libx264", "-c:a", "copy", reencoded.path])
        r = try Fixtures.redact(["sign", reencoded.path, "--key", keyPath.path, "--input", clip.url.path, "--tracks", tracks.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("are not painted over") && r.stderr.contains("not rendered from these tracks"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: reencoded.path + ".receipt.json"))

        // The file the tracks were made from is the only one render accepts.
        let other = try Self.clip("other") { $0.frames = 20; $0.background = .smptebars; $0.face = 4 }
        let refused = dir.appendingPathComponent("refused.mp4")
        r = try Fixtures.redact(["render", other.url.path, tracks.path, "-o", refused.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(tracks.path) && r.stderr.contains("$.input.sha256"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        XCTAssertFalse(Fixtures.listing(dir).contains { $0.hasPrefix(".") }, "hidden files left: \(Fixtures.listing(dir))")
    }

    /// `redact track` decodes the video again for optical flow, so `detect` then `track` make the
    /// tracks `run` makes (without flow the chain left faces visible that `run` covers: dev03).
    /// Its video is the one detections.json names, checked by SHA-256; `--no-flow` needs none.
    func testStandaloneTrackFollowsFacesByFlowLikeRun() throws {
        // A copy of the clip, so the test can take it away from the detections that name it.
        let clip = try Self.mainClip()
        let copy = dir.appendingPathComponent("copy.mp4")
        try FileManager.default.copyItem(at: clip.url, to: copy)
        let ranTracks = dir.appendingPathComponent("run-tracks.json")
        try runJob(clip, tracks: ranTracks)
        let det = dir.appendingPathComponent("detections.json")
        var r = try Fixtures.redact(["detect", copy.path, "-o", det.path])
        XCTAssertEqual(r.status, 0, r.stderr)

        let chained = dir.appendingPathComponent("chain-tracks.json")
        r = try Fixtures.redact(["track", det.path, "-o", chained.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ran = try JSONFiles.read(TracksFile.self, from: ranTracks), chain = try JSONFiles.read(TracksFile.self, from: chained)
        let flowBoxes = chain.tracks.flatMap(\.boxes).filter { $0.source == .flow }
        XCTAssertFalse(flowBoxes.isEmpty, "the chain's tracks were followed by optical flow")
        XCTAssertEqual(chain.tracks, ran.tracks, "detect + track make run's tracks")
        XCTAssertEqual(chain.tracker, ran.tracker)

        // Without flow: no video needed, no flow boxes (and what they covered is left to extension).
        let noFlow = dir.appendingPathComponent("no-flow.json")
        r = try Fixtures.redact(["track", det.path, "-o", noFlow.path, "--no-flow"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let plain = try JSONFiles.read(TracksFile.self, from: noFlow)
        XCTAssertFalse(plain.tracker.flow)
        XCTAssertTrue(plain.tracks.flatMap(\.boxes).allSatisfy { $0.source != .flow })

        // Another video given for the detections' one: refused, nothing written.
        let other = try Self.clip("other") { $0.frames = 20; $0.background = .smptebars; $0.face = 4 }
        let refused = dir.appendingPathComponent("refused.json")
        r = try Fixtures.redact(["track", det.path, "-o", refused.path, "--input", other.url.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(det.path) && r.stderr.contains("$.input.sha256"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))

        // The video the detections name is gone: a one-line error that says what to do.
        try FileManager.default.removeItem(at: copy)
        r = try Fixtures.redact(["track", det.path, "-o", refused.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        for part in [det.path, "$.input.path", copy.path, "--input", "--no-flow"] { XCTAssertTrue(r.stderr.contains(part), "\(part): \(r.stderr)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        r = try Fixtures.redact(["track", det.path, "-o", refused.path, "--input", copy.path])
        XCTAssertEqual(r.status, 66, r.stderr)
        XCTAssertTrue(r.stderr.contains(copy.path), r.stderr)
        // ...given again with --input (the same bytes under another name), it is the same.
        let moved = dir.appendingPathComponent("moved.mp4")
        try FileManager.default.copyItem(at: clip.url, to: moved)
        let again = dir.appendingPathComponent("again.json")
        r = try Fixtures.redact(["track", det.path, "-o", again.path, "--input", moved.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try JSONFiles.read(TracksFile.self, from: again).tracks, ran.tracks)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        XCTAssertFalse(Fixtures.listing(dir).contains { $0.hasPrefix(".") }, "hidden files left: \(Fixtures.listing(dir))")
    }
}
