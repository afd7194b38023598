import CFFmpeg
import CRedactCV
import Foundation

/// A rectangle in whole display pixels.
public struct PixelRect: Equatable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var w: Int
    public var h: Int
    public var description: String { "\(x),\(y),\(w),\(h)" }
}

/// One thumbnail to cut: the box (display pixels) of a track in one frame.
struct ThumbnailRequest {
    var track: Int
    var frame: Int
    var box: Box
}

/// A cut thumbnail: JPEG bytes, their size, and the region of the displayed frame they show.
struct Thumbnail {
    var jpeg: Data
    var width: Int
    var height: Int
    var crop: PixelRect
}

/// What one pass over the video gave: the thumbnails (nil where the box lies outside the picture)
/// and every frame's timestamp.
struct ExtractedFrames {
    var thumbnails: [Thumbnail?]
    /// Presentation timestamp of frame n at index n - 1, in `timeBase` (as `VideoDecoder` numbers them).
    var pts: [Int64]
    var timeBase: Rational
    /// Duration of the last frame, in `timeBase` (its packet's, else the typical frame spacing).
    var lastFrameDuration: Int64
    var geometry: FrameGeometry

    var frameCount: Int { pts.count }

    /// Seconds from the first frame to the start of frame `n` (1-based); `n = frameCount + 1` is the end of the video.
    func seconds(atFrame n: Int) -> Double {
        guard let first = pts.first else { return 0 }
        let tb = Double(timeBase.num) / Double(max(1, timeBase.den))
        if n > pts.count { return Double(pts[pts.count - 1] - first + lastFrameDuration) * tb }
        return Double(pts[max(0, n - 1)] - first) * tb
    }

    var durationSeconds: Double { seconds(atFrame: frameCount + 1) }
}

/// Decodes a video once, in order, and cuts the requested boxes out of the frames that have one,
/// turned to display orientation (the orientation tracks.json's boxes are in). Only the current
/// frame and one RGB copy of it are held: memory does not grow with the video's length, only
/// with the number of thumbnails (a few kB each).
final class ThumbnailExtractor {
    /// Each box grows by this fraction of its size on every side before it is cut, so the
    /// analyst sees what is around the object.
    static let margin = 0.25
    /// Longer side of a thumbnail at most (larger crops are scaled down, smaller ones kept as they are).
    static let maxSide = 192

    private let reader: VideoStreamReader
    var path: String { reader.path }
    var geometry: FrameGeometry { reader.geometry }
    private let reportPath: String
    private var sws: OpaquePointer?
    private var rgb: [UInt8] = []
    private var rotated: [UInt8] = []

    /// `reportPath` names encoding failures (the page being written). `videoStream`: the one the
    /// tracks were found on (`DetectorConfig.videoStream`); nil: libavformat's best.
    init(path: String, videoStream: Int? = nil, reportPath: String) throws {
        self.reportPath = reportPath
        reader = try VideoStreamReader(path: path, videoStream: videoStream)
    }

    deinit { sws_freeContext(sws) }

    /// The display region cut for `box`: the box grown by `margin` per side, clipped to the
    /// picture, widened to whole pixels. Nil when less than 2x2 pixels of it lie in the picture.
    static func cropRect(for box: Box, margin: Double = ThumbnailExtractor.margin, displayWidth: Int, displayHeight: Int) -> PixelRect? {
        guard box.w > 0, box.h > 0, box.x.isFinite, box.y.isFinite, box.w.isFinite, box.h.isFinite else { return nil }
        let p = box.padded(by: margin)
        let x0 = max(0, Int(p.x.rounded(.down))), y0 = max(0, Int(p.y.rounded(.down)))
        let x1 = min(displayWidth, Int(p.maxX.rounded(.up))), y1 = min(displayHeight, Int(p.maxY.rounded(.up)))
        guard x1 - x0 >= 2, y1 - y0 >= 2 else { return nil }
        return PixelRect(x: x0, y: y0, w: x1 - x0, h: y1 - y0)
    }

    /// Thumbnail size for a crop: the longer side at most `maxSide`, never enlarged.
    static func thumbnailSize(for crop: PixelRect) -> (width: Int, height: Int) {
        let s = min(1.0, Double(maxSide) / Double(max(crop.w, crop.h)))
        return (max(1, Int((Double(crop.w) * s).rounded())), max(1, Int((Double(crop.h) * s).rounded())))
    }

    /// Decodes every frame; cuts each request in its frame. Throws for undecodable media or
    /// a request naming a frame the video does not have (the caller checks frame numbers first).
    func run(_ requests: [ThumbnailRequest]) throws -> ExtractedFrames {
        var byFrame: [Int: [Int]] = [:]
        for (i, r) in requests.enumerated() { byFrame[r.frame, default: []].append(i) }
        var thumbnails = [Thumbnail?](repeating: nil, count: requests.count)
        var pts: [Int64] = []
        var lastDuration: Int64 = 0
        func handle(_ frame: VideoFrame) throws {
            pts.append(frame.pts)
            lastDuration = frame.pointer.pointee.pkt_duration
            guard let wanted = byFrame.removeValue(forKey: frame.number) else { return }
            try loadRGB(frame)
            for i in wanted {
                thumbnails[i] = try cut(requests[i].box, frame: frame.number)
            }
        }
        while let f = try reader.nextFrame() { try handle(f) }
        if let cut = reader.truncation() {
            throw RedactError.badMedia(path: path, detail: "truncated: the file has \(cut.size) bytes but its index refers to data up to byte \(cut.needed)")
        }
        guard !pts.isEmpty else { throw RedactError.badMedia(path: path, detail: "no video frame could be decoded") }
        if lastDuration <= 0 {
            if pts.count >= 2 {
                lastDuration = pts[pts.count - 1] - pts[pts.count - 2]
            } else if reader.frameRate.num > 0, reader.frameRate.den > 0 {
                lastDuration = av_rescale_q(1, AVRational(num: reader.frameRate.den, den: reader.frameRate.num), reader.timeBase)
            }
        }
        return ExtractedFrames(thumbnails: thumbnails, pts: pts, timeBase: Rational(reader.timeBase),
                               lastFrameDuration: max(0, lastDuration), geometry: geometry)
    }

    /// The whole stored picture as packed RGB (its own colour matrix and range honoured).
    private func loadRGB(_ frame: VideoFrame) throws {
        guard frame.width == geometry.storedWidth, frame.height == geometry.storedHeight else {
            throw RedactError.decode(path: path, frame: frame.number,
                                     detail: "frame is \(frame.width)x\(frame.height), the stream \(geometry.storedWidth)x\(geometry.storedHeight)")
        }
        let w = frame.width, h = frame.height
        sws = sws_getCachedContext(sws, Int32(w), Int32(h), frame.pixelFormat, Int32(w), Int32(h), AV_PIX_FMT_RGB24,
                                   SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nil, nil, nil)
        guard let sws else {
            throw RedactError.decode(path: path, frame: frame.number, detail: "cannot convert pixel format \(frame.pixelFormat.rawValue) to RGB")
        }
        let space = frame.pointer.pointee.colorspace
        let matrix = space == AVCOL_SPC_UNSPECIFIED || space == AVCOL_SPC_RGB ? SWS_CS_DEFAULT : Int32(space.rawValue)
        let fullRange: Int32 = frame.pointer.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0
        // Fails (harmlessly, keeping the defaults) for inputs that are not YUV.
        _ = sws_setColorspaceDetails(sws, sws_getCoefficients(matrix), fullRange, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16)
        // These flags keep libswscale off the SIMD converter that writes whole blocks past a
        // row's end (`swsDestinationSlack`); the spare room is there should a build of
        // libswscale take it anyway.
        let size = w * h * 3 + swsDestinationSlack
        if rgb.count != size { rgb = [UInt8](repeating: 0, count: size) }
        let (srcData, srcStride) = swsSource(frame.pointer)
        let rows = rgb.withUnsafeMutableBufferPointer { buf -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var dstStride: [Int32] = [Int32(w * 3), 0, 0, 0]
            return sws_scale(sws, srcData, srcStride, 0, Int32(h), &dst, &dstStride)
        }
        guard rows == Int32(h) else { throw RedactError.decode(path: path, frame: frame.number, detail: "conversion to RGB failed") }
    }

    /// Cuts `box` (display pixels, grown by the margin) out of the loaded RGB picture, turns it
    /// upright and encodes it.
    private func cut(_ box: Box, frame: Int) throws -> Thumbnail? {
        guard let crop = Self.cropRect(for: box, displayWidth: geometry.displayWidth, displayHeight: geometry.displayHeight) else {
            return nil
        }
        let stored = geometry.storedBox(fromDisplay: Box(x: Double(crop.x), y: Double(crop.y), w: Double(crop.w), h: Double(crop.h)))
        let sx = Int(stored.x.rounded()), sy = Int(stored.y.rounded()), sw = Int(stored.w.rounded()), sh = Int(stored.h.rounded())
        let W = geometry.storedWidth
        guard sx >= 0, sy >= 0, sw > 0, sh > 0, sx + sw <= W, sy + sh <= geometry.storedHeight else {
            throw RedactError.encode(path: reportPath, frame: frame, detail: "internal: crop \(crop) maps outside the stored picture")
        }
        let size = Self.thumbnailSize(for: crop)
        let jpeg: Data = try rgb.withUnsafeBufferPointer { whole in
            let origin = whole.baseAddress! + (sy * W + sx) * 3
            if geometry.quarterTurns == 0 {
                return try JPEGEncoder.encode(rgb: origin, width: sw, height: sh, stride: W * 3, outWidth: size.width, outHeight: size.height,
                                              path: reportPath, frame: frame)
            }
            if rotated.count < crop.w * crop.h * 3 { rotated = [UInt8](repeating: 0, count: crop.w * crop.h * 3) }
            var err = [CChar](repeating: 0, count: 256)
            let r = rotated.withUnsafeMutableBufferPointer { dst in
                rcv_rotate_rgb(origin, Int32(sw), Int32(sh), Int32(W * 3), dst.baseAddress, Int32(crop.w * 3),
                               Int32(geometry.quarterTurns), &err, err.count)
            }
            guard r == RCV_OK else { throw RedactError.encode(path: reportPath, frame: frame, detail: "turning the crop upright: \(String(cString: err))") }
            return try rotated.withUnsafeBufferPointer { upright in
                try JPEGEncoder.encode(rgb: upright.baseAddress!, width: crop.w, height: crop.h, stride: crop.w * 3,
                                       outWidth: size.width, outHeight: size.height, path: reportPath, frame: frame)
            }
        }
        return Thumbnail(jpeg: jpeg, width: size.width, height: size.height, crop: crop)
    }
}
