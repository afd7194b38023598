import CFFmpeg
import Foundation
import XCTest
@testable import RedactKit

/// Inputs at the edges of what cameras write: odd picture sizes, 10-bit video, metadata and
/// streams that must not reach the output. An extension of PipelineTests so that it shares its
/// clips, jobs and pixel assertions (`swift test --filter 'PipelineTests/test(Odd|TenBit|Metadata|Encoder)'`).
extension PipelineTests {
    // MARK: - The decoder's references

    /// The decoder is closed before its last pictures go downstream: until closed it holds the
    /// pictures it keeps as references, and the render stage copies a picture someone else still
    /// holds before painting it (a few full-size pictures more at the job's end, where its memory
    /// peaked). Every picture that leaves the decode stage is its holders' alone.
    func testDecodedPicturesAreNotSharedWithTheDecoderOnceTheInputIsDrained() throws {
        let clip = try Self.clip("decoder-references") { $0.audioTracks = 0; $0.face = 1; $0.frames = 40 }
        let stage = try DecodeStage(path: clip.url.path, keepAudio: false, threads: 1)
        // Room for every frame: the stage runs to the end before anything is taken out.
        let queue = BoundedQueue<MediaItem>(capacity: clip.frameCount + 8)
        stage.run(into: queue)
        var frames: [Int] = [], shared: [Int] = []
        loop: while let item = queue.pop() {
            switch item {
            case .video(let work):
                frames.append(work.frame.number)
                if av_frame_is_writable(work.frame.pointer) == 0 { shared.append(work.frame.number) }
            case .end:
                break loop
            default:
                XCTFail("unexpected item \(item)")
                break loop
            }
        }
        XCTAssertEqual(frames, Array(1...clip.frameCount))
        XCTAssertEqual(shared, [], "pictures the decoder still references")
    }

    // MARK: - Odd picture sizes

    /// The output keeps the exact stored size (no crop, no scale), every frame and timestamp, the
    /// audio, and the face is redacted where it is.
    func assertOddSizeIsKept(_ clip: Fixtures.Clip, file: StaticString = #filePath, line: UInt = #line) throws {
        let input = try Fixtures.streams(clip.url, type: "video").first
        XCTAssertEqual(input?["width"] as? Int, clip.width, "fixture width", file: file, line: line)
        XCTAssertEqual(input?["height"] as? Int, clip.height, "fixture height", file: file, line: line)

        let (output, result) = try runJob(clip)
        let v = try Fixtures.streams(output, type: "video").first
        XCTAssertEqual(v?["width"] as? Int, clip.width, "ffprobe width", file: file, line: line)
        XCTAssertEqual(v?["height"] as? Int, clip.height, "ffprobe height", file: file, line: line)
        XCTAssertEqual(v?["codec_name"] as? String, "h264", file: file, line: line)
        // H.264 4:2:0 cannot code an odd size; 4:4:4 can (see VideoEncoder.pixelFormat).
        XCTAssertEqual(v?["pix_fmt"] as? String, "yuv444p", file: file, line: line)
        XCTAssertEqual(result.counts.frames, clip.frameCount, file: file, line: line)
        XCTAssertEqual(result.counts.videoPackets, clip.frameCount, "every packet gave a picture", file: file, line: line)
        // Our own decoder agrees with ffprobe about the size, and so does the probe report.
        let probed = try Probe.run(path: output.path).streams.first { $0.type == "video" }
        XCTAssertEqual(probed?.width, clip.width, file: file, line: line)
        XCTAssertEqual(probed?.height, clip.height, file: file, line: line)
        XCTAssertEqual(probed?.frameCount, clip.frameCount, file: file, line: line)
        // ffmpeg decodes every frame at the odd size (grayFrames checks the byte count) with the face redacted.
        try assertRedacted(clip, output: output, file: file, line: line)
        try assertSameFrameTimes(clip.url, output, file: file, line: line)
        try assertSameAudio(clip.url, output, tracks: clip.options.audioTracks, file: file, line: line)
        XCTAssertNoThrow(try Receipts.verify(output: output, input: clip.url, trustedKey: key.publicKey), file: file, line: line)
    }

    /// Odd width and odd height (the small variant of a 1279x719 camera).
    func testOddWidthAndHeightKeepTheExactSizeAndEveryFrame() throws {
        let clip = try Self.clip("odd-321x241") {
            $0.width = 321
            $0.height = 241
            $0.pixelFormat = "yuv444p"
            $0.faceSize = 70
            $0.x0 = 20
            $0.y0 = 20
            $0.vx = 20
            $0.vy = 10
            $0.frames = 30
            $0.face = 1
        }
        try assertOddSizeIsKept(clip)
    }

    /// Odd width only, wider picture; the face crosses the last (odd) column's neighbourhood.
    func testOddWidthOnlyKeepsTheExactSize() throws {
        let clip = try Self.clip("odd-639x360") {
            $0.width = 639
            $0.height = 360
            $0.pixelFormat = "yuv444p"
            $0.frames = 30
            $0.face = 2
            $0.x0 = 380
            $0.y0 = 40
            $0.vx = 60
            $0.vy = 20
        }
        try assertOddSizeIsKept(clip)
    }

    /// The 4:4:4 copy of a painted 4:2:0 picture: luma byte for byte, every chroma sample
    /// repeated over its 2x2 luma samples, including the last column and row of an odd size.
    func testYUV444CopyRepeatsChromaExactly() throws {
        let w = 7, h = 5
        guard let src = av_frame_alloc() else { return XCTFail("alloc") }
        defer { var p: UnsafeMutablePointer<AVFrame>? = src; av_frame_free(&p) }
        src.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        src.pointee.width = Int32(w)
        src.pointee.height = Int32(h)
        XCTAssertGreaterThanOrEqual(av_frame_get_buffer(src, 0), 0)
        let (y, ys) = framePlane(src, 0), (u, us) = framePlane(src, 1), (v, vs) = framePlane(src, 2)
        for r in 0..<h { for c in 0..<w { y[r * ys + c] = UInt8(r * 10 + c) } }
        for r in 0..<3 { for c in 0..<4 { u[r * us + c] = UInt8(100 + r * 4 + c); v[r * vs + c] = UInt8(200 + r * 4 + c) } }
        src.pointee.pts = 42
        guard let dst = yuv444Copy(of: src) else { return XCTFail("copy") }
        defer { var p: UnsafeMutablePointer<AVFrame>? = dst; av_frame_free(&p) }
        XCTAssertEqual(dst.pointee.format, AV_PIX_FMT_YUV444P.rawValue)
        XCTAssertEqual(dst.pointee.width, Int32(w))
        XCTAssertEqual(dst.pointee.height, Int32(h))
        XCTAssertEqual(dst.pointee.pts, 42)
        let (dy, dys) = framePlane(dst, 0), (du, dus) = framePlane(dst, 1), (dv, dvs) = framePlane(dst, 2)
        for r in 0..<h {
            for c in 0..<w {
                XCTAssertEqual(dy[r * dys + c], UInt8(r * 10 + c), "Y \(c),\(r)")
                XCTAssertEqual(du[r * dus + c], UInt8(100 + (r / 2) * 4 + c / 2), "U \(c),\(r)")
                XCTAssertEqual(dv[r * dvs + c], UInt8(200 + (r / 2) * 4 + c / 2), "V \(c),\(r)")
            }
        }
    }

    /// libx264 refusing its settings is a typed encode error (exit 70), not a crash: the encoder
    /// used to free its context twice when avcodec_open2 failed.
    func testEncoderThatCannotOpenThrowsATypedError() throws {
        let settings = VideoEncoder.Settings(
            width: 3, height: 3, pixelFormat: AV_PIX_FMT_YUV420P, timeBase: AVRational(num: 1, den: 15),
            frameRate: AVRational(num: 15, den: 1), sampleAspectRatio: AVRational(num: 1, den: 1),
            colorRange: AVCOL_RANGE_MPEG, colorPrimaries: AVCOL_PRI_UNSPECIFIED, colorTransfer: AVCOL_TRC_UNSPECIFIED,
            colorSpace: AVCOL_SPC_UNSPECIFIED, crf: 18, preset: "veryfast", globalHeader: true, threads: 1)
        XCTAssertThrowsError(try VideoEncoder(settings, path: "/x/out.mp4")) { error in
            guard case .encode(let path, _, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/x/out.mp4")
            XCTAssertTrue(detail.contains("3x3"), detail)
            XCTAssertEqual((error as? RedactError)?.exitCode, 70)
        }
        // Every odd size gets a pixel format libx264 accepts.
        for (w, h) in [(3, 3), (321, 241), (1279, 719), (640, 359), (639, 360)] {
            XCTAssertEqual(VideoEncoder.pixelFormat(width: w, height: h), AV_PIX_FMT_YUV444P, "\(w)x\(h)")
        }
        XCTAssertEqual(VideoEncoder.pixelFormat(width: 640, height: 360), AV_PIX_FMT_YUV420P)
    }

    // MARK: - 10-bit input

    /// A 10-bit input becomes 8-bit yuv420p H.264: every frame kept, the face redacted, and the
    /// picture away from the face within a small distance of the input.
    func assertTenBitInputIsRedacted(_ clip: Fixtures.Clip, file: StaticString = #filePath, line: UInt = #line) throws {
        let input = try Fixtures.streams(clip.url, type: "video").first
        XCTAssertEqual(input?["pix_fmt"] as? String, "yuv420p10le", "fixture is 10-bit", file: file, line: line)
        let (output, result) = try runJob(clip)
        let v = try Fixtures.streams(output, type: "video").first
        XCTAssertEqual(v?["pix_fmt"] as? String, "yuv420p", file: file, line: line)
        XCTAssertEqual(v?["codec_name"] as? String, "h264", file: file, line: line)
        XCTAssertEqual(v?["profile"] as? String, "High", file: file, line: line)
        XCTAssertEqual(result.counts.frames, clip.frameCount, file: file, line: line)
        try assertRedacted(clip, output: output, file: file, line: line)
        try assertSameFrameTimes(clip.url, output, file: file, line: line)

        // Everything outside the padded face box (plus 8 px) is close to the input, frame by frame.
        let a = try Fixtures.grayFrames(clip.url), b = try Fixtures.grayFrames(output)
        XCTAssertEqual(a.frames.count, b.frames.count, file: file, line: line)
        var worst = 0.0
        for i in 0..<min(a.frames.count, b.frames.count, clip.boxes.count) {
            let face = clip.boxes[i].padded(by: JobConfig().render.padding)
            var sum = 0, n = 0
            for y in 0..<a.height {
                for x in 0..<a.width {
                    let inFace = Double(x) >= face.x - 8 && Double(x) < face.maxX + 8 && Double(y) >= face.y - 8 && Double(y) < face.maxY + 8
                    if inFace { continue }
                    sum += abs(Int(a.frames[i][y * a.width + x]) - Int(b.frames[i][y * a.width + x]))
                    n += 1
                }
            }
            worst = max(worst, Double(sum) / Double(max(1, n)))
        }
        XCTAssertLessThan(worst, 2.0, "worst mean |out-in| away from the face: \(fmt(worst))", file: file, line: line)
    }

    func testTenBitH264InputIsRedactedInto8BitOutput() throws {
        let clip = try Self.clip("10bit-h264") { $0.pixelFormat = "yuv420p10le"; $0.frames = 30; $0.face = 3 }
        XCTAssertEqual(try Fixtures.streams(clip.url, type: "video").first?["profile"] as? String, "High 10")
        try assertTenBitInputIsRedacted(clip)
    }

    func testTenBitHEVCInputIsRedactedInto8BitOutput() throws {
        let clip = try Self.clip("10bit-hevc") {
            $0.pixelFormat = "yuv420p10le"
            $0.videoCodec = "libx265"
            $0.frames = 20
            $0.face = 4
            $0.background = .smptebars
        }
        XCTAssertEqual(try Fixtures.streams(clip.url, type: "video").first?["codec_name"] as? String, "hevc")
        try assertTenBitInputIsRedacted(clip)
    }
}

// MARK: - Metadata and streams that must not reach the output

extension PipelineTests {
    /// Values that identify people or places; none may appear anywhere in an output or receipt.
    static let secretValues = ["51.5074", "Badge 1234", "Baker Street", "Officer Smith", "John Doe", "Jane Roe", "Cam serial", "GPS 51"]

    /// The documented allow-list (docs/receipt.md): tags copied from the input...
    static let allowedContainerTags: Set<String> = ["creation_time"]
    static let allowedStreamTags: Set<String> = ["language", "creation_time"]
    /// ...and tags the MP4 muxer writes itself, with values that say nothing about the input.
    static let muxerContainerTags: Set<String> = ["major_brand", "minor_version", "compatible_brands", "encoder"]
    static let muxerStreamTags: Set<String> = ["handler_name", "vendor_id"]

    /// Text files the metadata fixtures carry as subtitles, chapters and attachments.
    func writeSideFiles() throws -> (subtitles: URL, chapters: URL, notes: URL) {
        let subtitles = dir.appendingPathComponent("subs.srt")
        try Data("1\n00:00:00,000 --> 00:00:01,000\nSuspect John Doe\n".utf8).write(to: subtitles)
        let chapters = dir.appendingPathComponent("chapters.txt")
        try Data(";FFMETADATA1\ntitle=Officer Smith patrol\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Arrest at 12 Baker Street\n".utf8).write(to: chapters)
        let notes = dir.appendingPathComponent("notes.txt")
        try Data("Witness: Jane Roe, 12 Baker Street\n".utf8).write(to: notes)
        return (subtitles, chapters, notes)
    }

    func secretsIn(_ file: URL) throws -> [String] {
        let bytes = try Data(contentsOf: file)
        return Self.secretValues.filter { bytes.range(of: Data($0.utf8)) != nil }
    }

    /// H.264 SEI "user data unregistered" with a position in it, as some cameras write.
    static let seiWithPosition = "h264_metadata=sei_user_data=086f3693-b7b3-4f2c-9653-21492feee5b8+GPS 51.5074N 0.1278W"

    /// Checks the output with ffprobe: one video stream, the input's audio streams, no chapters,
    /// only allow-listed or muxer-written tags, no secret value in its bytes; and the receipt
    /// lists `expectedDropped` (keys only) and contains no secret value either.
    func assertNothingLeaked(input: URL, output: URL, audioTracks: Int, expectedDroppedStreams: [String], expectedDropped: [String],
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let probe = try Fixtures.ffprobeJSON(["-show_format", "-show_streams", "-show_chapters", "-show_programs", output.path])
        let streams = probe["streams"] as? [[String: Any]] ?? []
        XCTAssertEqual(streams.map { $0["codec_type"] as? String ?? "?" }, ["video"] + Array(repeating: "audio", count: audioTracks),
                       "output streams", file: file, line: line)
        XCTAssertTrue(streams.allSatisfy { ($0["disposition"] as? [String: Any])?["attached_pic"] as? Int != 1 }, "no attached picture", file: file, line: line)
        XCTAssertEqual((probe["chapters"] as? [Any])?.count ?? 0, 0, "chapters", file: file, line: line)
        XCTAssertEqual((probe["programs"] as? [Any])?.count ?? 0, 0, "programs", file: file, line: line)
        let formatTags = ((probe["format"] as? [String: Any])?["tags"] as? [String: String]) ?? [:]
        let badFormat = Set(formatTags.keys).subtracting(Self.allowedContainerTags.union(Self.muxerContainerTags))
            .subtracting([OutputMuxer.redactedVideoTag.key])
        XCTAssertEqual(badFormat, [], "container tags outside the allow-list: \(formatTags)", file: file, line: line)
        // The one tag redact writes: its own words, not the input's comment.
        XCTAssertEqual(formatTags[OutputMuxer.redactedVideoTag.key], OutputMuxer.redactedVideoTag.value, file: file, line: line)
        for (i, s) in streams.enumerated() {
            let tags = s["tags"] as? [String: String] ?? [:]
            let bad = Set(tags.keys).subtracting(Self.allowedStreamTags.union(Self.muxerStreamTags))
            XCTAssertEqual(bad, [], "stream \(i) tags outside the allow-list: \(tags)", file: file, line: line)
            if let handler = tags["handler_name"] {
                XCTAssertTrue(["VideoHandler", "SoundHandler"].contains(handler), "stream \(i) handler_name \(handler) comes from the input", file: file, line: line)
            }
        }
        XCTAssertEqual(try secretsIn(output), [], "values from the input found in the output's bytes", file: file, line: line)

        let verified = try Receipts.verify(output: output, input: input, trustedKey: key.publicKey)
        XCTAssertEqual(verified.predicate.droppedStreams, expectedDroppedStreams, file: file, line: line)
        // What the standalone `redact sign` records, from the two files alone, is the same.
        XCTAssertEqual(try Probe.droppedStreams(input: input.path, output: output.path),
                       expectedDroppedStreams, "dropped streams found by comparing the files", file: file, line: line)
        let dropped = verified.predicate.droppedMetadata ?? []
        let missing = expectedDropped.filter { !dropped.contains($0) }
        XCTAssertEqual(missing, [], "not listed in dropped_metadata \(dropped)", file: file, line: line)
        // Keys only: nothing kept is listed, and no value is.
        XCTAssertFalse(dropped.contains("format:creation_time"), file: file, line: line)
        let payload = try XCTUnwrap(Data(base64Encoded: (try JSONSerialization.jsonObject(with: Data(contentsOf: verified.receiptURL)) as? [String: Any])?["payload"] as? String ?? ""))
        let receiptText = String(decoding: payload, as: UTF8.self)
        for secret in Self.secretValues {
            XCTAssertFalse(receiptText.contains(secret), "receipt contains \"\(secret)\"", file: file, line: line)
        }
    }

    /// MP4 from a camera that writes a position (QuickTime ISO 6709 and ©xyz), a title and a
    /// comment, a subtitle track, chapters (a text track), a timecode track, a named audio
    /// handler, and a position in the video's SEI.
    func testMetadataSubtitlesTimecodeAndChaptersDoNotReachTheOutput() throws {
        let base = try Self.clip("meta-base") { $0.frames = 30; $0.face = 1 }
        let side = try writeSideFiles()
        let input = dir.appendingPathComponent("camera.mp4")
        try Fixtures.ffmpeg([
            "-i", base.url.path, "-i", side.subtitles.path, "-i", side.chapters.path,
            "-map", "0:v", "-map", "0:a", "-map", "1:s", "-map_metadata", "2", "-map_chapters", "2",
            "-c:v", "copy", "-c:a", "copy", "-c:s", "mov_text", "-bsf:v", Self.seiWithPosition,
            "-metadata", "location=+51.5074-000.1278/", "-metadata", "com.apple.quicktime.location.ISO6709=+51.5074-000.1278/",
            "-metadata", "comment=Badge 1234", "-metadata", "creation_time=2024-05-06T07:08:09.000000Z",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "handler_name=Officer Smith lapel mic",
            "-timecode", "01:00:00:00", "-movflags", "use_metadata_tags", input.path,
        ])
        // The fixture has what it should.
        let inputProbe = try Fixtures.ffprobeJSON(["-show_format", "-show_streams", "-show_chapters", input.path])
        let inputTags = ((inputProbe["format"] as? [String: Any])?["tags"] as? [String: String]) ?? [:]
        XCTAssertEqual(inputTags["com.apple.quicktime.location.ISO6709"], "+51.5074-000.1278/")
        XCTAssertEqual(inputTags["location"], "+51.5074-000.1278/")
        let inputTypes = (inputProbe["streams"] as? [[String: Any]] ?? []).map { $0["codec_type"] as? String ?? "?" }
        XCTAssertEqual(inputTypes, ["video", "audio", "subtitle", "data", "data"], "fixture streams")
        XCTAssertEqual((inputProbe["chapters"] as? [Any])?.count, 1)
        XCTAssertNotNil(try Data(contentsOf: input).range(of: Data("GPS 51.5074N".utf8)), "fixture SEI")
        XCTAssertGreaterThanOrEqual(try secretsIn(input).count, 5, "fixture carries the values to hide")

        // MP4, and QuickTime for an output named .mov: nothing more gets through either.
        for name in ["camera-redacted.mp4", "camera-redacted.mov"] {
            let output = dir.appendingPathComponent(name)
            let result = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(Fixtures.job(input: input, output: output))
            XCTAssertEqual(result.counts.frames, base.frameCount, name)
            try assertNothingLeaked(
                input: input, output: output, audioTracks: 1,
                expectedDroppedStreams: ["stream 2: subtitle mov_text", "stream 3: data bin_data", "stream 4: data none"],
                expectedDropped: ["format:location", "format:com.apple.quicktime.location.ISO6709", "format:comment", "format:title",
                                  "format:timecode", "stream 1:handler_name", "stream 0:timecode", "stream 2:handler_name", "stream 4:timecode",
                                  "chapter 0:title", "stream 0:frame side data:H.26[45] User Data Unregistered SEI message"])
            // The allow-list is kept: the recording time and the audio language.
            let out = try Fixtures.ffprobeJSON(["-show_format", "-show_streams", output.path])
            XCTAssertEqual(((out["format"] as? [String: Any])?["tags"] as? [String: String])?["creation_time"], "2024-05-06T07:08:09.000000Z", name)
            let audioTags = (out["streams"] as? [[String: Any]])?.first { $0["codec_type"] as? String == "audio" }?["tags"] as? [String: String]
            XCTAssertEqual(audioTags?["language"], "eng", name)
            try assertSameAudio(input, output, tracks: 1)
            try assertSameFrameTimes(input, output)
        }
    }

    /// Matroska with stream titles and a position tag, a cover picture, a text attachment, SRT
    /// subtitles and a position in the video's SEI.
    func testMatroskaTagsCoverPictureAndAttachmentsDoNotReachTheOutput() throws {
        let base = try Self.clip("meta-base") { $0.frames = 30; $0.face = 1 }
        let side = try writeSideFiles()
        let input = dir.appendingPathComponent("camera.mkv")
        try Fixtures.ffmpeg([
            "-i", base.url.path, "-i", side.subtitles.path, "-map", "0:v", "-map", "0:a", "-map", "1:s",
            "-c:v", "copy", "-c:a", "copy", "-c:s", "srt", "-bsf:v", Self.seiWithPosition,
            "-attach", Fixtures.face(2).path, "-metadata:s:t:0", "mimetype=image/jpeg", "-metadata:s:t:0", "filename=cover.jpg",
            "-attach", side.notes.path, "-metadata:s:t:1", "mimetype=text/plain", "-metadata:s:t:1", "filename=notes.txt",
            "-metadata", "title=Officer Smith patrol",
            "-metadata:s:v:0", "title=Cam serial X1-99", "-metadata:s:v:0", "location=+51.5074-000.1278/",
            "-metadata:s:a:0", "title=Officer Smith lapel mic", "-metadata:s:a:0", "language=eng",
            input.path,
        ])
        let inputStreams = try Fixtures.streams(input)
        XCTAssertEqual(inputStreams.map { $0["codec_type"] as? String ?? "?" }, ["video", "audio", "subtitle", "video", "attachment"], "fixture streams")
        XCTAssertEqual((inputStreams[3]["disposition"] as? [String: Any])?["attached_pic"] as? Int, 1, "fixture cover picture")
        XCTAssertGreaterThanOrEqual(try secretsIn(input).count, 5, "fixture carries the values to hide")

        let output = dir.appendingPathComponent("camera-mkv-redacted.mp4")
        _ = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(Fixtures.job(input: input, output: output))
        try assertNothingLeaked(
            input: input, output: output, audioTracks: 1,
            expectedDroppedStreams: ["stream 2: subtitle subrip", "stream 3: attached picture mjpeg", "stream 4: attachment none"],
            expectedDropped: ["format:title", "stream 0:title", "stream 0:LOCATION", "stream 1:title", "stream 3:filename",
                              "stream 4:filename", "stream 4:mimetype", "stream 0:frame side data:H.26[45] User Data Unregistered SEI message"])
        try assertSameAudio(input, output, tracks: 1)
        try assertSameFrameTimes(input, output)
    }

    /// Receipts written before `dropped_metadata` existed still decode (and verify); a receipt
    /// without the list leaves the key out rather than claiming nothing was dropped.
    func testReceiptWithoutDroppedMetadataStillDecodes() throws {
        let predicate = ReceiptPredicate(tool: .init(), input: .init(name: "in.mp4", sha256: String(repeating: "a", count: 64), size: 1),
                                         output: .init(name: "out.mp4", sha256: String(repeating: "b", count: 64), size: 2),
                                         models: [], config: JobConfig(), counts: StageCounts(), droppedStreams: [],
                                         signer: .init(keyID: "k", publicKey: "p"), created: "2025-01-31T12:00:00Z")
        let encoded = try JSONEncoder().encode(predicate)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        XCTAssertNil(object["dropped_metadata"], "absent when unknown")
        XCTAssertNil(try JSONDecoder().decode(ReceiptPredicate.self, from: encoded).droppedMetadata)
        var with = predicate
        with.droppedMetadata = ["format:location"]
        let again = try JSONDecoder().decode(ReceiptPredicate.self, from: JSONEncoder().encode(with))
        XCTAssertEqual(again.droppedMetadata, ["format:location"])
    }
}

// MARK: - Truncated inputs

extension PipelineTests {
    /// An MP4 with its index first, cut exactly at the end of a packet half-way: libavformat
    /// reports a clean end of file there (the next packet lies past the end), so this used to
    /// give a verified output with half the frames. It must fail (65) and leave nothing.
    func testMP4CutAtAPacketBoundaryFailsInsteadOfGivingAShortOutput() throws {
        let full = dir.appendingPathComponent("faststart-boundary.mp4")
        try Fixtures.ffmpeg(["-i", try Self.mainClip().url.path, "-map", "0", "-c", "copy", "-movflags", "+faststart", full.path])
        let obj = try Fixtures.ffprobeJSON(["-show_entries", "packet=pos,size", full.path])
        let ends = (obj["packets"] as? [[String: Any]] ?? []).compactMap { p -> Int? in
            guard let pos = Int(p["pos"] as? String ?? ""), let size = Int(p["size"] as? String ?? "") else { return nil }
            return pos + size
        }.sorted()
        XCTAssertGreaterThan(ends.count, 40, "fixture packets")
        let cut = ends[ends.count / 2]
        let input = dir.appendingPathComponent("in/cut-at-boundary.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contentsOf: full).prefix(cut).write(to: input)
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: dir.appendingPathComponent("o/x.mp4")))) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }
}

// MARK: - Damaged inputs

extension PipelineTests {
    /// A copy of `clip` with its video packet `index` (a P or B picture's) damaged by `damage`,
    /// given the file's bytes and the packet's position and size; and that position.
    func damagedCopy(of clip: Fixtures.Clip, packet index: Int, named name: String = "damaged.mp4",
                     damage: (inout Data, _ position: Int, _ size: Int) -> Void) throws -> (url: URL, position: Int) {
        let obj = try Fixtures.ffprobeJSON(["-select_streams", "v:0", "-show_entries", "packet=pos,size,flags", clip.url.path])
        let packets = obj["packets"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(packets.count, index, "fixture packets")
        let p = packets[index]
        XCTAssertFalse((p["flags"] as? String ?? "K").hasPrefix("K"), "a keyframe: \(p)")
        let pos = try XCTUnwrap(Int(p["pos"] as? String ?? "")), size = try XCTUnwrap(Int(p["size"] as? String ?? ""))
        XCTAssertGreaterThan(size, 400, "a packet with slice data to damage")
        var data = try Data(contentsOf: clip.url)
        damage(&data, pos, size)
        let url = dir.appendingPathComponent("in/\(name)")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        return (url, pos)
    }

    /// A copy of `clip` with the second half of one P or B picture's packet damaged (every 7th
    /// byte flipped): slice data, not the packet's length field or slice header, so FFmpeg's
    /// H.264 decoder conceals what it cannot decode and marks the picture instead of refusing the
    /// packet (which fails the job: `VideoDecoder`).
    func damagedCopy(of clip: Fixtures.Clip, packet index: Int) throws -> URL {
        try damagedCopy(of: clip, packet: index) { data, pos, size in
            for offset in stride(from: pos + size / 2, to: pos + size - 2, by: 7) { data[offset] ^= 0x55 }
        }.url
    }

    /// A packet the decoder refuses (its NAL unit's length field overwritten, so the unit runs
    /// past the packet) fails the job, as every decoder error does (65): nothing is output, and
    /// the one-line error says where the file is damaged and what helps.
    func testVideoPacketTheDecoderRefusesFailsTheJobNamingWhereTheFileIsDamaged() throws {
        let (input, position) = try damagedCopy(of: try Self.mainClip(), packet: 10, named: "refused.mp4") { data, pos, _ in
            for offset in pos..<(pos + 4) { data[offset] = 0xFF }
        }
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: dir.appendingPathComponent("o/x.mp4")))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("decode failed") && text.contains("the video packet at byte \(position) is damaged"), text)
            XCTAssertTrue(text.contains("repair the file or export it again"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    /// The frames the decoder makes up in part from damaged data are redacted like every other
    /// (the output has every frame, the face covered on each), and named: a warning from `run`,
    /// `counts.damaged_frames` and `damaged_frame_ranges` in the signed receipt, a line from
    /// `verify`. An undamaged input names none.
    func testFramesTheDecoderConcealedAreRedactedAndNamedInTheReceipt() throws {
        _ = try Fixtures.requireBinary()
        let clip = try Self.mainClip()
        var damaged = clip
        damaged.url = try damagedCopy(of: clip, packet: 10)

        // What the decode stage marks, on the clean clip and the damaged copy, with the decoder
        // threads the job will use (a decoder's frame threads may conceal differently).
        let threads = CodecThreads(detecting: true, cores: CodecThreads.cores()).decoder
        func marked(_ url: URL) throws -> FrameRanges {
            let stage = try DecodeStage(path: url.path, keepAudio: false, threads: threads)
            let queue = BoundedQueue<MediaItem>(capacity: clip.frameCount + 8)
            stage.run(into: queue)
            return stage.damagedFrames
        }
        XCTAssertEqual(try marked(clip.url).count, 0, "the undamaged clip")
        let expected = try marked(damaged.url)
        XCTAssertGreaterThan(expected.count, 0, "the decoder marked no frame of the damaged copy")
        XCTAssertTrue(expected.runs.allSatisfy { 1 <= $0[0] && $0[0] <= $0[1] && $0[1] <= clip.frameCount }, "\(expected.runs)")

        let keyURL = dir.appendingPathComponent("k.key")
        XCTAssertEqual(try Fixtures.redact(["keygen", "-o", keyURL.path]).status, 0)
        let manifest = dir.appendingPathComponent("damaged.json")
        try Data(#"{"version": 1, "signing_key": "k.key", "jobs": [{"id": "d", "input": "\#(damaged.url.path)", "output": "out/d.mp4"}]}"#.utf8)
            .write(to: manifest)
        let r = try Fixtures.redact(["run", manifest.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let warning = r.stderrLines.first { $0.hasPrefix("d: warning: the input is damaged: the decoder made up \(expected.count) frame") }
        XCTAssertNotNil(warning, r.stderr)

        let output = dir.appendingPathComponent("out/d.mp4")
        let verified = try Receipts.verify(output: output, input: damaged.url, trustedKey: try PublicKey(contentsOf: URL(fileURLWithPath: keyURL.path + ".pub")))
        let counts = verified.predicate.counts
        XCTAssertEqual(counts.frames, clip.frameCount, "every frame, the made-up ones too")
        XCTAssertEqual(counts.damagedFrames, expected.count)
        XCTAssertEqual(counts.damagedFrameRanges, expected.runs)
        try assertRedacted(damaged, output: output)

        let v = try Fixtures.redact(["verify", output.path])
        XCTAssertEqual(v.status, 0, v.stderr)
        let first = expected.runs[0]
        XCTAssertTrue(v.stdoutText.contains("damaged input: the decoder made up \(expected.count) frame"), v.stdoutText)
        XCTAssertTrue(v.stdoutText.contains("(\(first[0] == first[1] ? "\(first[0])" : "\(first[0])-\(first[1])")"), v.stdoutText)
    }

    /// Runs of frames, and only the first `limit` runs, however many frames are added.
    func testFrameRangesKeepRunsUpToTheirLimit() {
        var r = FrameRanges(limit: 2)
        for n in [3, 4, 5, 9, 12, 13, 20] { r.add(n) }
        XCTAssertEqual(r.count, 7)
        XCTAssertEqual(r.runs, [[3, 5], [9, 9]])
        var counts = StageCounts()
        counts.record(damaged: r)
        XCTAssertEqual(counts.damagedFramesSummary, "7 frames (3-5, 9, ...)")
        counts = StageCounts()
        counts.record(damaged: FrameRanges())
        XCTAssertNil(counts.damagedFrames, "nothing recorded without damage")
        XCTAssertNil(counts.damageWarning)
    }
}

// MARK: - Audio that cannot be copied into MP4

extension PipelineTests {
    /// A MOV with PCM audio: MP4 cannot store PCM and audio is never re-encoded, so the job fails
    /// as bad media naming the stream and codec (it used to fail as "cannot write output", 73).
    func testPCMAudioThatMP4CannotStoreFailsAsBadMediaNamingTheStream() throws {
        let input = dir.appendingPathComponent("in/pcm.mov")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Fixtures.ffmpeg(["-i", try Self.mainClip().url.path, "-map", "0", "-c:v", "copy", "-c:a", "pcm_s16le", input.path])
        try assertFailedJobLeavesNothing(input: input, expectedExit: 65)
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        XCTAssertThrowsError(try runner.run(Fixtures.job(input: input, output: dir.appendingPathComponent("o/x.mp4")))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("stream 1") && text.contains("pcm_s16le"), text)
            XCTAssertTrue(text.contains("name the output .mov"), "says what keeps the audio: \(text)")
            XCTAssertFalse(text.contains("\n"), text)
        }
        // Without audio the same file is fine.
        var config = JobConfig()
        config.render.keepAudio = false
        let output = dir.appendingPathComponent("o/no-audio.mp4")
        let result = try runner.run(Fixtures.job(input: input, output: output, config: config))
        XCTAssertEqual(result.counts.frames, try Self.mainClip().frameCount)
        XCTAssertEqual(try Fixtures.streams(output, type: "audio").count, 0)
    }

    /// The same PCM audio into an output named .mov (QuickTime, which stores PCM): every audio
    /// packet unchanged, the video redacted with the frame times kept, the receipt valid, the
    /// redact tag there; through `run`, and through `render --no-audio` then `mux`.
    func testPCMAudioIsCopiedUnchangedIntoAMOVOutput() throws {
        let clip = try Self.mainClip()
        let input = dir.appendingPathComponent("pcm.mov")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c:v", "copy", "-c:a", "pcm_s16le", input.path])
        let output = dir.appendingPathComponent("out.mov")
        let result = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(Fixtures.job(input: input, output: output))
        XCTAssertEqual(result.counts.frames, clip.frameCount)
        let probe = try Fixtures.ffprobeJSON(["-show_format", "-show_streams", output.path])
        let codecs = (probe["streams"] as? [[String: Any]] ?? []).map { $0["codec_name"] as? String ?? "?" }
        XCTAssertEqual(codecs, ["h264", "pcm_s16le"])
        // QuickTime's brand, not MP4's: the container follows the name.
        XCTAssertEqual(((probe["format"] as? [String: Any])?["tags"] as? [String: String])?["major_brand"], "qt  ")
        XCTAssertEqual(try Fixtures.audioPacketHashes(output, track: 0), try Fixtures.audioPacketHashes(input, track: 0))
        try assertRedacted(clip, output: output)
        try assertSameFrameTimes(input, output)
        XCTAssertNoThrow(try Receipts.verify(output: output, input: input, trustedKey: key.publicKey))
        XCTAssertTrue(OutputMuxer.isRedactedVideo(try MediaInput(path: output.path)))

        let silent = dir.appendingPathComponent("silent.mp4"), muxed = dir.appendingPathComponent("muxed.mov")
        let tracks = dir.appendingPathComponent("tracks.json")
        var r = try Fixtures.redact(["detect", input.path, "-o", dir.appendingPathComponent("det.json").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["track", dir.appendingPathComponent("det.json").path, "-o", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["render", input.path, tracks.path, "-o", silent.path, "--no-audio"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["mux", silent.path, "--audio-from", input.path, "-o", dir.appendingPathComponent("muxed.mp4").path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("name the output .mov"), r.stderr)
        r = try Fixtures.redact(["mux", silent.path, "--audio-from", input.path, "-o", muxed.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Fixtures.audioPacketHashes(muxed, track: 0), try Fixtures.audioPacketHashes(input, track: 0))
        try assertRedacted(clip, output: muxed)
    }
}

// MARK: - Mute ranges: audio replaced by a tone

extension PipelineTests {
    /// The input's first audio track decoded to mono float samples at 48 kHz (ffmpeg).
    func decodedAudio(_ file: URL, track: Int = 0) throws -> [Float] {
        let raw = dir.appendingPathComponent("audio-\(UUID().uuidString).raw")
        defer { try? FileManager.default.removeItem(at: raw) }
        try Fixtures.ffmpeg(["-i", file.path, "-map", "0:a:\(track)", "-ac", "1", "-ar", "48000", "-f", "f32le", raw.path])
        let data = try Data(contentsOf: raw)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Amplitude of frequency `hz` in a window (Goertzel), about the sine's peak amplitude.
    func amplitude(_ x: ArraySlice<Float>, hz: Double, rate: Double = 48000) -> Double {
        let w = 2 * Double.pi * hz / rate, c = 2 * cos(w)
        var s1 = 0.0, s2 = 0.0
        for v in x {
            let s0 = Double(v) + c * s1 - s2
            s2 = s1
            s1 = s0
        }
        return 2 * (max(0, s1 * s1 + s2 * s2 - c * s1 * s2)).squareRoot() / Double(x.count)
    }

    func testMuteReplacesAudioInTheRangesByAToneAndIsRecorded() throws {
        let clip = try Self.clip("mute") { $0.frames = 45; $0.face = 2 }
        let ranges = [MuteRange(start: 0.5, end: 1.0, reason: "a child's name"), MuteRange(start: 2.0, end: 2.5, reason: "an address")]
        let output = dir.appendingPathComponent("muted.mp4")
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        var job = Fixtures.job(input: clip.url, output: output)
        job.mute = ranges
        let result = try runner.run(job)
        XCTAssertEqual(result.counts.audioPackets, 0, "no packet was copied: the stream was re-encoded")

        // The receipt records the ranges, the tone and the re-encoded stream.
        let verified = try Receipts.verify(output: output, input: clip.url, trustedKey: key.publicKey)
        let record = try XCTUnwrap(verified.predicate.audioMute)
        XCTAssertEqual(record.ranges, ranges)
        XCTAssertEqual(record.toneHz, 1000)
        XCTAssertEqual(record.toneDBFS, -20)
        XCTAssertEqual(record.reencodedStreams.count, 1)
        XCTAssertTrue(record.reencodedStreams[0].hasPrefix("stream 1: aac 48000 Hz 1 ch -> aac "), record.reencodedStreams[0])

        // Same streams, same frame times, same audio length and packet times as the input.
        XCTAssertEqual(try Fixtures.streams(output, type: "audio").first?["codec_name"] as? String, "aac")
        try assertSameFrameTimes(clip.url, output)
        func audioDuration(_ u: URL) throws -> Double { Double(try Fixtures.streams(u, type: "audio").first?["duration"] as? String ?? "") ?? -1 }
        XCTAssertEqual(try audioDuration(output), try audioDuration(clip.url), accuracy: 0.001, "audio duration")
        XCTAssertEqual(try Fixtures.audioPacketTimes(output, track: 0), try Fixtures.audioPacketTimes(clip.url, track: 0), "audio packet times")

        // Inside each range (25 ms in from its edges): the 1 kHz tone at -20 dBFS and nothing of
        // the 440 Hz original. Outside (25 ms away): the original, no tone.
        let a = try decodedAudio(clip.url), b = try decodedAudio(output)
        XCTAssertEqual(a.count, b.count, "decoded sample count")
        var problems: [String] = []
        var t = 0.05
        while t + 0.02 < Double(min(a.count, b.count)) / 48000 - 0.05 {
            let window = b[Int(t * 48000)..<Int((t + 0.02) * 48000)]
            let inside = ranges.contains { t >= $0.start + 0.025 && t + 0.02 <= $0.end - 0.025 }
            let outside = ranges.allSatisfy { t + 0.02 <= $0.start - 0.025 || t >= $0.end + 0.025 }
            let tone = amplitude(window, hz: 1000), original = amplitude(window, hz: 440)
            if inside && (abs(tone - 0.1) > 0.02 || original > 0.005) {
                problems.append("t=\(fmt(t)) in a range: 1 kHz \(String(format: "%.4f", tone)) (want 0.1), 440 Hz \(String(format: "%.4f", original)) (want ~0)")
            }
            if outside {
                let before = amplitude(a[Int(t * 48000)..<Int((t + 0.02) * 48000)], hz: 440)
                if tone > 0.005 || abs(original - before) > 0.1 * before {
                    problems.append("t=\(fmt(t)) outside: 1 kHz \(String(format: "%.4f", tone)) (want ~0), 440 Hz \(String(format: "%.4f", original)) vs input \(String(format: "%.4f", before))")
                }
            }
            t += 0.01
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) windows wrong:\n" + problems.prefix(8).joined(separator: "\n"))

        // Resuming: the same job is up to date; other ranges (or none) make it redo.
        let skip = ResumeCheck.evaluate(job: job, publicKey: key.publicKey, registry: try Fixtures.registry())
        guard case .upToDate = skip else { return XCTFail("same ranges: \(skip)") }
        var changed = job
        changed.mute[1].end = 2.6
        guard case .redo(let why) = ResumeCheck.evaluate(job: changed, publicKey: key.publicKey, registry: try Fixtures.registry()) else {
            return XCTFail("changed ranges must redo")
        }
        XCTAssertTrue(why.contains("mute"), why)
        changed.mute = []
        guard case .redo = ResumeCheck.evaluate(job: changed, publicKey: key.publicKey, registry: try Fixtures.registry()) else {
            return XCTFail("no ranges must redo")
        }
    }

    /// Stereo at 44.1 kHz with noise (no periodicity, so any shift shows): both channels carry
    /// the tone inside the range, and outside it the audio lines up with the input to the sample.
    func testMuteKeepsStereo44100HzAudioInSync() throws {
        let clip = try Self.clip("mute") { $0.frames = 45; $0.face = 2 }
        let input = dir.appendingPathComponent("stereo.mp4")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-f", "lavfi", "-i", "anoisesrc=sample_rate=44100:duration=3:seed=7:amplitude=0.3",
                             "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-ac", "2", "-b:a", "128k", input.path])
        let output = dir.appendingPathComponent("stereo-muted.mp4")
        var job = Fixtures.job(input: input, output: output)
        job.mute = [MuteRange(start: 1.2, end: 1.7, reason: "x")]
        _ = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(job)
        XCTAssertEqual(try Fixtures.streams(output, type: "audio").first?["channels"] as? Int, 2)
        XCTAssertEqual(try Fixtures.streams(output, type: "audio").first?["sample_rate"] as? String, "44100")

        func channels(_ u: URL) throws -> [[Float]] {
            let raw = dir.appendingPathComponent("st-\(UUID().uuidString).raw")
            defer { try? FileManager.default.removeItem(at: raw) }
            try Fixtures.ffmpeg(["-i", u.path, "-map", "0:a:0", "-f", "f32le", raw.path])
            let all = try Data(contentsOf: raw).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            return [stride(from: 0, to: all.count, by: 2).map { all[$0] }, stride(from: 1, to: all.count, by: 2).map { all[$0] }]
        }
        let a = try channels(input), b = try channels(output)
        for c in 0..<2 {
            XCTAssertEqual(a[c].count, b[c].count, "channel \(c) length")
            for t in [1.25, 1.45, 1.62] {
                let i = Int(t * 44100)
                XCTAssertEqual(amplitude(b[c][i..<(i + 882)], hz: 1000, rate: 44100), 0.1, accuracy: 0.02, "channel \(c) tone at \(t)")
            }
            // Noise correlates only with itself unshifted: the best lag must be 0 (a shift of
            // any size, even a whole AAC frame, moves the peak away from 0).
            for t in [0.5, 1.0, 2.0, 2.5] {
                let i = Int(t * 44100)
                var best = 0, bestValue = -Double.infinity
                for lag in -100...100 {
                    var sum = 0.0
                    for k in 0..<1500 { sum += Double(a[c][i + k]) * Double(b[c][i + k + lag]) }
                    if sum > bestValue { (best, bestValue) = (lag, sum) }
                }
                XCTAssertEqual(best, 0, "channel \(c) at \(t) s: output shifted by \(best) samples")
            }
        }
    }

    /// A range the audio does not reach re-encodes nothing: the audio stays bit-exact, and the
    /// receipt still records the range (with no re-encoded stream).
    func testMuteRangeAfterTheEndLeavesTheAudioBitExact() throws {
        let clip = try Self.clip("mute") { $0.frames = 45; $0.face = 2 }
        let output = dir.appendingPathComponent("not-muted.mp4")
        var job = Fixtures.job(input: clip.url, output: output)
        job.mute = [MuteRange(start: 100, end: 101, reason: "after the end")]
        _ = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(job)
        try assertSameAudio(clip.url, output, tracks: 1)
        let record = try XCTUnwrap(try Receipts.verify(output: output).predicate.audioMute)
        XCTAssertEqual(record.ranges, job.mute)
        XCTAssertEqual(record.reencodedStreams, [])
    }

    /// PCM (as dash cameras record it in MOV files) is toned in place: every packet keeps its
    /// size and time, every sample outside the ranges keeps its bytes, and the samples inside
    /// (from the first at or after `start` to the last before `end`) carry the tone. 16-bit
    /// stereo at 48 kHz, and G.711 mu-law mono at 8 kHz, whose tone the codec's encoder writes.
    func testMuteTonesPCMAudioInPlace() throws {
        let clip = try Self.clip("mute") { $0.frames = 45; $0.face = 2 }
        let range = MuteRange(start: 0.5, end: 1.25, reason: "a phone number")
        for (codec, rate, channels) in [("pcm_s16le", 48000, 2), ("pcm_mulaw", 8000, 1)] {
            let input = dir.appendingPathComponent("\(codec).mov"), output = dir.appendingPathComponent("\(codec)-muted.mov")
            try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c:v", "copy", "-c:a", codec, "-ar", "\(rate)", "-ac", "\(channels)", input.path])
            var job = Fixtures.job(input: input, output: output)
            job.mute = [range]
            let result = try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(job)
            XCTAssertEqual(result.counts.audioPackets, 0, "\(codec): the stream went through the muter, not copied")

            let record = try XCTUnwrap(try Receipts.verify(output: output, input: input, trustedKey: key.publicKey).predicate.audioMute)
            XCTAssertEqual(record.ranges, [range])
            XCTAssertEqual(record.reencodedStreams, ["stream 1: \(codec) \(rate) Hz \(channels) ch -> \(codec), toned in place (packets and samples outside the ranges unchanged)"])
            XCTAssertEqual(try Fixtures.streams(output, type: "audio").first?["codec_name"] as? String, codec)
            try assertSameFrameTimes(input, output)
            func packets(_ u: URL) throws -> [String] {
                let obj = try Fixtures.ffprobeJSON(["-select_streams", "a:0", "-show_entries", "packet=pts,duration,size", u.path])
                return (obj["packets"] as? [[String: Any]] ?? []).map { "\($0["pts"] ?? "?") \($0["duration"] ?? "?") \($0["size"] ?? "?")" }
            }
            let inPackets = try packets(input)
            XCTAssertGreaterThan(inPackets.count, 3, codec)
            XCTAssertEqual(try packets(output), inPackets, "\(codec): packet times and sizes")

            // The stored bytes, packet after packet (the stream starts at 0, so byte offset =
            // sample index x bytes per sample instant).
            func payload(_ u: URL) throws -> [UInt8] {
                let raw = dir.appendingPathComponent("payload-\(UUID().uuidString).raw")
                defer { try? FileManager.default.removeItem(at: raw) }
                try Fixtures.ffmpeg(["-i", u.path, "-map", "0:a:0", "-c", "copy", "-f", "data", raw.path])
                return [UInt8](try Data(contentsOf: raw))
            }
            let a = try payload(input), b = try payload(output)
            let width = (codec == "pcm_s16le" ? 2 : 1) * channels
            XCTAssertEqual(a.count, b.count, codec)
            let first = Int((range.start * Double(rate)).rounded(.up)), end = Int((range.end * Double(rate)).rounded(.up))
            let changed = stride(from: 0, to: min(a.count, b.count), by: width).filter { a[$0..<($0 + width)] != b[$0..<($0 + width)] }.map { $0 / width }
            XCTAssertFalse(changed.isEmpty, codec)
            XCTAssertTrue(changed.allSatisfy { $0 >= first && $0 < end }, "\(codec): samples changed outside [\(first), \(end)): \(changed.filter { $0 < first || $0 >= end }.prefix(5))")
            XCTAssertGreaterThan(changed.count, (end - first) * 9 / 10, "\(codec): most samples in the range carry the tone")
            XCTAssertTrue(changed.contains(first + 1) && changed.contains(end - 2), "\(codec): the range's edges are toned")

            // Decoded, each channel: the tone at -20 dBFS inside, nothing of the 440 Hz original.
            for c in 0..<channels {
                let raw = dir.appendingPathComponent("channel-\(UUID().uuidString).raw")
                defer { try? FileManager.default.removeItem(at: raw) }
                try Fixtures.ffmpeg(["-i", output.path, "-map", "0:a:0", "-af", "pan=mono|c0=c\(c)", "-ar", "48000", "-f", "f32le", raw.path])
                let decoded = try Data(contentsOf: raw).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                for t in [0.55, 0.85, 1.15] {
                    let window = decoded[Int(t * 48000)..<Int((t + 0.05) * 48000)]
                    XCTAssertEqual(amplitude(window, hz: 1000), 0.1, accuracy: 0.01, "\(codec) channel \(c): tone at \(t) s")
                    XCTAssertLessThan(amplitude(window, hz: 440), 0.005, "\(codec) channel \(c): original at \(t) s")
                }
            }
        }
    }

    /// Only AAC and interleaved PCM can be muted: other audio fails the job as bad media naming
    /// the stream.
    func testMuteOnAudioNeitherAACNorPCMFailsNamingTheStream() throws {
        let input = dir.appendingPathComponent("in/ac3.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Fixtures.ffmpeg(["-i", try Self.clip("mute") { $0.frames = 45; $0.face = 2 }.url.path, "-map", "0", "-c:v", "copy", "-c:a", "ac3", input.path])
        let output = dir.appendingPathComponent("o/ac3.mp4")
        var job = Fixtures.job(input: input, output: output)
        job.mute = [MuteRange(start: 0.5, end: 1, reason: "x")]
        XCTAssertThrowsError(try JobRunner(registry: try Fixtures.registry(), signingKey: key).run(job)) { error in
            XCTAssertEqual((error as? RedactError)?.exitCode, 65)
            XCTAssertTrue("\(error)".contains(input.path) && "\(error)".contains("stream 1") && "\(error)".contains("ac3"), "\(error)")
        }
        XCTAssertEqual(Fixtures.listing(output.deletingLastPathComponent()), [])
    }
}

/// The manifest's `mute` key.
final class MuteManifestTests: XCTestCase {
    func parse(_ mute: String) throws -> ManifestJob {
        let json = """
        {"version": 1, "jobs": [{"id": "a", "input": "in.mp4", "output": "out.mp4", "mute": \(mute)}]}
        """
        return try ManifestLoader.parse(Data(json.utf8), path: "m.json", baseDirectory: URL(fileURLWithPath: "/data")).jobs[0]
    }

    func assertRejected(_ mute: String, at jsonPath: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(mute), file: file, line: line) { error in
            guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(path, "m.json", file: file, line: line)
            XCTAssertEqual(jp, jsonPath, file: file, line: line)
            XCTAssertTrue(detail.contains(fragment), detail, file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
        }
    }

    func testMuteRangesParse() throws {
        let job = try parse(#"[{"start": 1.5, "end": 3, "reason": "name of a witness"}, {"start": 0, "end": 0.25, "reason": "x"}]"#)
        XCTAssertEqual(job.mute, [MuteRange(start: 1.5, end: 3, reason: "name of a witness"), MuteRange(start: 0, end: 0.25, reason: "x")])
        let none = try ManifestLoader.parse(Data(#"{"version": 1, "jobs": [{"id": "a", "input": "i.mp4", "output": "o.mp4"}]}"#.utf8),
                                            path: "m.json", baseDirectory: URL(fileURLWithPath: "/data")).jobs[0]
        XCTAssertEqual(none.mute, [])
    }

    func testBadMuteRangesAreRejectedWithTheirPath() {
        assertRejected("[]", at: "$.jobs[0].mute", "non-empty array")
        assertRejected(#"{"start": 1, "end": 2, "reason": "x"}"#, at: "$.jobs[0].mute", "non-empty array")
        assertRejected(#"[{"start": 2, "end": 1, "reason": "x"}]"#, at: "$.jobs[0].mute[0].end", "greater than start")
        assertRejected(#"[{"start": 1, "end": 1, "reason": "x"}]"#, at: "$.jobs[0].mute[0].end", "greater than start")
        assertRejected(#"[{"start": -1, "end": 1, "reason": "x"}]"#, at: "$.jobs[0].mute[0].start", "from 0")
        assertRejected(#"[{"start": "1", "end": 2, "reason": "x"}]"#, at: "$.jobs[0].mute[0].start", "string \"1\"")
        assertRejected(#"[{"start": 1, "end": 2}]"#, at: "$.jobs[0].mute[0].reason", "missing required key")
        assertRejected(#"[{"start": 1, "end": 2, "reason": "  "}]"#, at: "$.jobs[0].mute[0].reason", "non-empty string")
        assertRejected(#"[{"start": 1, "end": 2, "reason": "x", "level": -20}]"#, at: "$.jobs[0].mute[0].level", "unknown key")
        assertRejected(#"[{"start": 1, "end": 3, "reason": "x"}, {"start": 2.5, "end": 4, "reason": "y"}]"#, at: "$.jobs[0].mute[1]", "overlaps $.jobs[0].mute[0]")
    }
}
