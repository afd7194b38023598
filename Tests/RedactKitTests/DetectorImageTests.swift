import Foundation
import XCTest

@testable import RedactKit

/// The detector's input image, compared with what ffmpeg shows of the same frame: scaled down or
/// not, turned to display orientation, letterboxed with black (no colour the conversion wrote
/// past a row's end), and no write past its buffers (a 360 px wide rotated picture overran one:
/// the heap check aborted the process).
final class DetectorImageTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try Fixtures.makeTempDirectory("detector-image")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func testScaledImageIsTheDisplayedFrameScaledDown() throws {
        for rotation in [0, 90] {
            // Displayed 1280x720 (stored 720x1280 when rotated), scaled so its longer side is 640.
            try checkAgainstFFmpeg(rotation: rotation, longSide: 640, expectScaled: true)
        }
    }

    func testFullResolutionImageIsTheDisplayedFrame() throws {
        try checkAgainstFFmpeg(rotation: 90, longSide: 1280, expectScaled: false)
        // A width that is not a multiple of libswscale's block: its conversion writes past the
        // row's end, into the letterbox, which must be black again (it was not: this failed).
        try checkAgainstFFmpeg(rotation: 0, longSide: 1280, width: 1278, height: 718, expectScaled: false)
        // Stored 360 px wide, turned: the conversion into the rotation buffer wrote past its
        // last row (glibc aborted the test process before the buffer had room to spare).
        try checkAgainstFFmpeg(rotation: 90, longSide: 1280, width: 640, height: 360, expectScaled: false)
    }

    /// Loads the first frame of a generated clip into a `DetectorImage` and compares its valid
    /// region with ffmpeg's display-oriented, bilinear-scaled RGB of the same frame (the two scale
    /// differently at sharp edges: the mean difference must be small, not zero); the letterbox
    /// must be black.
    private func checkAgainstFFmpeg(rotation: Int, longSide: Int, width: Int = 1280, height: Int = 720, expectScaled: Bool) throws {
        var o = Fixtures.ClipOptions()
        o.width = width
        o.height = height
        o.rotation = rotation
        o.frames = 2
        o.audioTracks = 0
        o.name = "image-r\(rotation)-\(longSide)-\(width)"
        let clip = try Fixtures.makeClip(in: dir, o)

        let reader = try VideoStreamReader(path: clip.url.path)
        let image = DetectorImage(geometry: reader.geometry, longSide: longSide, path: clip.url.path)
        XCTAssertEqual(image.isFullResolution, !expectScaled)
        guard let frame = try reader.nextFrame() else { return XCTFail("no frame decoded") }
        try image.load(frame)
        let w = image.scaledWidth, h = image.scaledHeight
        XCTAssertEqual(max(w, h), min(longSide, width))
        XCTAssertGreaterThan(w, h, "display orientation")

        let raw = dir.appendingPathComponent("\(o.name).rgb")
        try Fixtures.ffmpeg(["-i", clip.url.path, "-frames:v", "1", "-vf", "scale=\(w):\(h):flags=bilinear",
                             "-pix_fmt", "rgb24", "-f", "rawvideo", raw.path])
        let reference = [UInt8](try Data(contentsOf: raw))
        XCTAssertEqual(reference.count, w * h * 3)

        var total = 0.0
        for y in 0..<h {
            for x in 0..<w * 3 {
                total += abs(Double(image.pixels[y * image.inputWidth * 3 + x]) - Double(reference[y * w * 3 + x]))
            }
        }
        let meanDifference = total / Double(w * h * 3)
        XCTAssertLessThan(meanDifference, expectScaled ? 3.0 : 1.0, "rotation \(rotation), long side \(longSide)")

        // Letterbox: right and bottom of the valid region, black.
        var letterbox = 0
        for y in 0..<image.inputHeight {
            for x in 0..<image.inputWidth where x >= w || y >= h {
                letterbox += Int(image.pixels[(y * image.inputWidth + x) * 3]) + Int(image.pixels[(y * image.inputWidth + x) * 3 + 2])
            }
        }
        XCTAssertEqual(letterbox, 0)
    }
}
