import Foundation
import XCTest
@testable import RedactKit

/// A file holding two cameras (an in-car system's front and back seat as two video streams of one
/// MP4): an output carries one, `detector.video_stream` (`--video-stream`) picks which, every
/// stage reads the same one, and a copy of either camera is never signed as redacted. An
/// extension of PipelineTests so that it shares its clips, jobs and pixel assertions.
extension PipelineTests {
    /// The front camera (640x360, face 0, with audio) and the back seat (480x272, face 1, another
    /// background, no audio), joined as streams 0 and 1 of one file, audio as stream 2.
    func makeTwoCameraFile() throws -> (url: URL, front: Fixtures.Clip, back: Fixtures.Clip) {
        let front = try Self.clip("camera-front") { $0.frames = 30; $0.face = 0 }
        let back = try Self.clip("camera-back") {
            $0.frames = 24; $0.face = 1; $0.background = .smptebars; $0.width = 480; $0.height = 272
            $0.faceSize = 96; $0.x0 = 300; $0.vx = -60; $0.y0 = 100; $0.vy = 0; $0.audioTracks = 0
        }
        let url = dir.appendingPathComponent("two-cameras.mp4")
        try Fixtures.ffmpeg(["-i", front.url.path, "-i", back.url.path, "-map", "0:v", "-map", "1:v", "-map", "0:a", "-c", "copy", url.path])
        let types = try Fixtures.streams(url).map { $0["codec_type"] as? String ?? "?" }
        XCTAssertEqual(types, ["video", "video", "audio"], "fixture streams")
        return (url, front, back)
    }

    func testVideoStreamPicksTheCameraEveryStageReadsAndTheReceiptRecordsIt() throws {
        let (input, front, back) = try makeTwoCameraFile()
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)

        // The back seat, asked for: its size, its frames, its face redacted, the front camera
        // dropped and named in the receipt, the audio copied unchanged.
        var config = JobConfig()
        config.detector.videoStream = 1
        let backOut = dir.appendingPathComponent("back.mp4")
        let backResult = try runner.run(Fixtures.job(input: input, output: backOut, config: config))
        XCTAssertEqual(backResult.counts.frames, back.frameCount)
        XCTAssertNil(backResult.videoNote, "asked for: nothing to warn about")
        XCTAssertEqual(try Fixtures.streams(backOut).map { $0["codec_type"] as? String ?? "?" }, ["video", "audio"])
        try assertRedacted(back, output: backOut)
        try assertSameAudio(input, backOut, tracks: 1)
        let backReceipt = try Receipts.verify(output: backOut, input: input, trustedKey: key.publicKey)
        XCTAssertEqual(backReceipt.predicate.droppedStreams, ["stream 0: video h264"])
        XCTAssertEqual(backReceipt.predicate.config.detector.videoStream, 1)

        // Not asked for: libavformat's choice (the front camera), and a warning naming the other.
        let frontOut = dir.appendingPathComponent("front.mp4")
        let frontResult = try runner.run(Fixtures.job(input: input, output: frontOut))
        XCTAssertEqual(frontResult.counts.frames, front.frameCount)
        try assertRedacted(front, output: frontOut)
        let note = try XCTUnwrap(frontResult.videoNote)
        XCTAssertTrue(note.contains("2 video streams") && note.contains("redacted stream 0") && note.contains("not in the output: stream 1"), note)
        XCTAssertEqual(try Receipts.verify(output: frontOut, input: input).predicate.droppedStreams, ["stream 1: video h264"])
        XCTAssertNil(try Receipts.verify(output: frontOut, input: input).predicate.config.detector.videoStream)

        // A stream that is not a camera, or not there: the job fails naming the file and the
        // stream, and writes nothing.
        for (stream, words) in [(2, "stream 2 is audio, not a video stream"), (5, "has no stream 5")] {
            config.detector.videoStream = stream
            let out = dir.appendingPathComponent("bad-\(stream).mp4")
            XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: out, config: config))) { error in
                guard let e = error as? RedactError, case .badMedia(let path, let detail) = e else { return XCTFail("\(error)") }
                XCTAssertEqual(path, input.path)
                XCTAssertTrue(detail.contains(words), detail)
                XCTAssertEqual(e.exitCode, 65)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
            XCTAssertFalse(FileManager.default.fileExists(atPath: Receipts.receiptURL(for: out).path))
        }
    }

    func testStandaloneStagesFollowTheChosenVideoStreamAndSignRefusesACopiedCamera() throws {
        let (input, _, back) = try makeTwoCameraFile()
        let det = dir.appendingPathComponent("det.json"), tracks = dir.appendingPathComponent("tracks.json")
        let output = dir.appendingPathComponent("back.mp4"), keyPath = dir.appendingPathComponent("k.pem")

        // probe says which stream is taken by default, and that there is a choice.
        var r = try Fixtures.redact(["probe", input.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdoutText.contains("2 video streams: redact takes #0 unless detector.video_stream"), r.stdoutText)
        XCTAssertEqual(try Probe.run(path: input.path).defaultVideoStream, 0)

        // Without --video-stream, detect warns that the other camera is not covered.
        r = try Fixtures.redact(["detect", input.path, "-o", dir.appendingPathComponent("default.json").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: the input has 2 video streams"), r.stderr)

        r = try Fixtures.redact(["detect", input.path, "-o", det.path, "--video-stream", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        let detections = try JSONFiles.read(DetectionsFile.self, from: det)
        XCTAssertEqual(detections.detector.videoStream, 1)
        XCTAssertEqual(detections.frames.count, back.frameCount)
        r = try Fixtures.redact(["track", det.path, "-o", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["render", input.path, tracks.path, "-o", output.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertRedacted(back, output: output)
        r = try Fixtures.redact(["keygen", "-o", keyPath.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["sign", output.path, "--key", keyPath.path, "--input", input.path, "--tracks", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let receipt = try Receipts.verify(output: output, input: input)
        XCTAssertEqual(receipt.predicate.droppedStreams, ["stream 0: video h264"], "the tracks say which camera the output is")
        XCTAssertEqual(receipt.predicate.config.detector.videoStream, 1)

        // eval compares the output with the camera it came from; against the main one it refuses
        // the pair (another picture size).
        let gt = dir.appendingPathComponent("back.gt.csv")
        try EvalTests.writeGT(back.faceBoxes, to: gt)
        r = try Fixtures.redact(["eval", input.path, output.path, gt.path, "--video-stream", "1", "--min-recall", "1", "--max-leak-frames", "0"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdoutText)
        r = try Fixtures.redact(["eval", input.path, output.path, gt.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("displayed size"), r.stderr)

        // Either camera copied out unredacted is refused: sign used to compare only with the
        // input's main video stream, and signed a copy of the back seat.
        for camera in [0, 1] {
            let copy = dir.appendingPathComponent("copy-\(camera).mp4")
            try Fixtures.ffmpeg(["-i", input.path, "-map", "0:v:\(camera)", "-c", "copy", copy.path])
            r = try Fixtures.redact(["sign", copy.path, "--key", keyPath.path, "--input", input.path])
            XCTAssertEqual(r.status, 65, r.stderr)
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("stream \(camera)"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: Receipts.receiptURL(for: copy).path))
        }
    }

    func testManifestVideoStreamMustBeAStreamIndex() throws {
        for bad in ["-1", "1.5", "\"1\""] {
            let json = #"{"version": 1, "jobs": [{"id": "a", "input": "in.mp4", "output": "out.mp4", "detector": {"video_stream": \#(bad)}}]}"#
            XCTAssertThrowsError(try ManifestLoader.parse(Data(json.utf8), path: "m.json", baseDirectory: dir)) { error in
                guard let e = error as? RedactError, case .badJSON(_, let jsonPath, _) = e else { return XCTFail("\(error)") }
                XCTAssertEqual(jsonPath, "$.jobs[0].detector.video_stream")
            }
        }
        let json = #"{"version": 1, "jobs": [{"id": "a", "input": "in.mp4", "output": "out.mp4", "detector": {"video_stream": 1}}]}"#
        XCTAssertEqual(try ManifestLoader.parse(Data(json.utf8), path: "m.json", baseDirectory: dir).jobs[0].config.detector.videoStream, 1)
    }
}
