import CFFmpeg
import Foundation

/// Decodes a video's primary stream to 8-bit grey in DISPLAY orientation, every frame exactly once
/// (decoder output order, like `VideoDecoder` everywhere else), the way `ffmpeg -pix_fmt gray`
/// with autorotation shows it:
///
/// * limited-range YUV: luma expanded to full range exactly as libswscale does for a gray
///   output (a 256-entry table reproducing its fixed-point arithmetic bit for bit);
/// * full-range YUV (yuvj*, or color_range = pc): luma as is;
/// * any other pixel format (10-bit, RGB...): libswscale to GRAY8;
/// * then the display matrix's quarter turns (see `FrameGeometry`), done here in Swift.
final class GreyVideoReader {
    private let reader: VideoStreamReader
    var path: String { reader.path }
    var geometry: FrameGeometry { reader.geometry }
    private var sws: OpaquePointer?
    private var storedGrey: [UInt8] = []

    var displayWidth: Int { geometry.displayWidth }
    var displayHeight: Int { geometry.displayHeight }

    /// `videoStream`: the stream to decode (`DetectorConfig.videoStream`); nil: the file's main one.
    init(path: String, decoderThreads: Int = 0, videoStream: Int? = nil) throws {
        reader = try VideoStreamReader(path: path, decoderThreads: decoderThreads, videoStream: videoStream)
    }

    deinit { sws_freeContext(sws) }

    /// The next decoded frame, or nil at the end.
    func nextFrame() throws -> VideoFrame? { try reader.nextFrame() }

    /// The next frame as display-oriented grey (`displayWidth * displayHeight` bytes), or nil at the end.
    func nextGrey() throws -> [UInt8]? {
        guard let frame = try nextFrame() else { return nil }
        var out = [UInt8](repeating: 0, count: displayWidth * displayHeight)
        try grey(frame, into: &out)
        return out
    }

    /// Counts the frames left without converting them.
    func skipRemaining() throws -> Int {
        var n = 0
        while try nextFrame() != nil { n += 1 }
        return n
    }

    /// swscale's limited-to-full-range luma conversion for an 8-bit gray output: Y << 7, then
    /// lumRangeToJpeg_c, then yuv2plane1 with the flat (64) dither, clipped.
    static let limitedToFullRange: [UInt8] = (0..<256).map { y in
        let v = (min(y << 7, 30189) * 19077 - 39_057_361) >> 14
        return UInt8(max(0, min(255, (v + 64) >> 7)))
    }

    private static let lumaFirstFormats: Set<Int32> = [
        AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUV440P, AV_PIX_FMT_YUV411P,
        AV_PIX_FMT_YUV410P, AV_PIX_FMT_NV12, AV_PIX_FMT_NV21, AV_PIX_FMT_NV16, AV_PIX_FMT_NV24, AV_PIX_FMT_NV42,
        AV_PIX_FMT_YUVA420P, AV_PIX_FMT_YUVA422P, AV_PIX_FMT_YUVA444P,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }
    private static let fullRangeFormats: Set<Int32> = [
        AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUVJ411P,
        AV_PIX_FMT_GRAY8,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }

    func grey(_ frame: VideoFrame, into out: inout [UInt8]) throws {
        let W = geometry.storedWidth, H = geometry.storedHeight
        guard frame.width == W, frame.height == H else {
            throw RedactError.badMedia(path: path, detail: "frame \(frame.number) is \(frame.width)x\(frame.height); the stream is \(W)x\(H) (size changes are not supported)")
        }
        precondition(out.count == W * H)
        let fmt = frame.pointer.pointee.format
        if Self.lumaFirstFormats.contains(fmt) || Self.fullRangeFormats.contains(fmt) {
            let (p, s) = plane0(frame)
            let full = Self.fullRangeFormats.contains(fmt) || frame.pointer.pointee.color_range == AVCOL_RANGE_JPEG
            if full {
                rotate(p, stride: s, table: nil, into: &out)
            } else {
                Self.limitedToFullRange.withUnsafeBufferPointer { rotate(p, stride: s, table: $0.baseAddress!, into: &out) }
            }
        } else {
            try convertWithSwscale(frame)
            storedGrey.withUnsafeBufferPointer { rotate($0.baseAddress!, stride: W, table: nil, into: &out) }
        }
    }

    /// Copies a stored-orientation 8-bit plane into `out` in display orientation, through `table` if given.
    private func rotate(_ src: UnsafePointer<UInt8>, stride: Int, table: UnsafePointer<UInt8>?, into out: inout [UInt8]) {
        let W = geometry.storedWidth, H = geometry.storedHeight
        out.withUnsafeMutableBufferPointer { o in
            let d = o.baseAddress!
            @inline(__always) func value(_ x: Int, _ y: Int) -> UInt8 {
                let v = src[y * stride + x]
                if let table { return table[Int(v)] }
                return v
            }
            switch geometry.quarterTurns {
            case 1:
                // display (dx, dy) shows stored (dy, H-1-dx); the display is H wide and W high.
                for sy in 0..<H {
                    let dx = H - 1 - sy
                    for sx in 0..<W { d[sx * H + dx] = value(sx, sy) }
                }
            case 2:
                for sy in 0..<H {
                    let row = d + (H - 1 - sy) * W
                    for sx in 0..<W { row[W - 1 - sx] = value(sx, sy) }
                }
            case 3:
                // display (dx, dy) shows stored (W-1-dy, dx).
                for sy in 0..<H {
                    for sx in 0..<W { d[(W - 1 - sx) * H + sy] = value(sx, sy) }
                }
            default:
                for y in 0..<H {
                    let row = d + y * W
                    let s = src + y * stride
                    if let table {
                        for x in 0..<W { row[x] = table[Int(s[x])] }
                    } else {
                        row.update(from: s, count: W)
                    }
                }
            }
        }
    }

    private func plane0(_ frame: VideoFrame) -> (UnsafePointer<UInt8>, Int) {
        let f = frame.pointer
        let data = withUnsafePointer(to: &f.pointee.data) {
            $0.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { $0[0]! }
        }
        let stride = withUnsafePointer(to: &f.pointee.linesize) {
            $0.withMemoryRebound(to: Int32.self, capacity: 8) { Int($0[0]) }
        }
        return (UnsafePointer(data), stride)
    }

    private func convertWithSwscale(_ frame: VideoFrame) throws {
        let W = geometry.storedWidth, H = geometry.storedHeight
        if storedGrey.count != W * H { storedGrey = [UInt8](repeating: 0, count: W * H) }
        sws = sws_getCachedContext(sws, Int32(W), Int32(H), frame.pixelFormat, Int32(W), Int32(H), AV_PIX_FMT_GRAY8,
                                   SWS_BICUBIC, nil, nil, nil)
        guard let sws else {
            throw RedactError.badMedia(path: path, detail: "cannot convert pixel format \(frame.pointer.pointee.format) to grey")
        }
        let src = frame.pointer
        let rows = withUnsafePointer(to: &src.pointee.data) { sd in
            withUnsafePointer(to: &src.pointee.linesize) { sl in
                storedGrey.withUnsafeMutableBufferPointer { buf -> Int32 in
                    var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
                    var dstStride: [Int32] = [Int32(W), 0, 0, 0]
                    return sws_scale(sws,
                                     UnsafeRawPointer(sd).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                     UnsafeRawPointer(sl).assumingMemoryBound(to: Int32.self),
                                     0, Int32(H), &dst, &dstStride)
                }
            }
        }
        if rows <= 0 { throw RedactError.decode(path: path, frame: frame.number, detail: "grey conversion failed") }
    }
}
