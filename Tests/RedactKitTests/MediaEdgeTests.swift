import CFFmpeg
import Foundation
import XCTest
@testable import RedactKit

/// Inputs at the edges of what cameras write: odd picture sizes, 10-bit video, metadata and
/// streams that must not reach the output. An extension of PipelineTests so that it shares its
/// clips, jobs and pixel assertions (`swift test --filter 'PipelineTests/test(Odd|TenBit|Metadata|Encoder)'`).
extension PipelineTests {
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
