import CFFmpeg

/// Base address and line size (bytes) of one plane of a frame.
func framePlane(_ frame: UnsafeMutablePointer<AVFrame>, _ plane: Int) -> (UnsafeMutablePointer<UInt8>, Int) {
    let data = withUnsafePointer(to: &frame.pointee.data) {
        $0.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { $0[plane]! }
    }
    let stride = withUnsafePointer(to: &frame.pointee.linesize) {
        $0.withMemoryRebound(to: Int32.self, capacity: 8) { Int($0[plane]) }
    }
    return (data, stride)
}

/// A frame's eight plane pointers and line sizes, as `sws_scale` takes its source.
func swsSource(_ frame: UnsafeMutablePointer<AVFrame>) -> (data: [UnsafePointer<UInt8>?], stride: [Int32]) {
    let data: [UnsafePointer<UInt8>?] = withUnsafePointer(to: &frame.pointee.data) {
        $0.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { p in (0..<8).map { UnsafePointer(p[$0]) } }
    }
    let stride: [Int32] = withUnsafePointer(to: &frame.pointee.linesize) {
        $0.withMemoryRebound(to: Int32.self, capacity: 8) { p in (0..<8).map { p[$0] } }
    }
    return (data, stride)
}

/// Spare bytes at the end of every buffer `sws_scale` writes packed pixels into without
/// FFmpeg's padding (our own arrays, not `av_frame_get_buffer` frames). libswscale's SIMD colour
/// conversion (the unscaled path) writes whole blocks of pixels: past a row's last pixel when the
/// width is not a multiple of the block, and so past the last row. Without the room a 360 px wide
/// rotated detector image overran its buffer (`DetectorImage`).
let swsDestinationSlack = 64

/// A yuv444p copy of an 8-bit 4:2:0 frame (any size, odd included: chroma planes are
/// ceil(w/2) x ceil(h/2)). Luma is copied byte for byte and every chroma sample is repeated over
/// the 2x2 luma samples it covers: no value is interpolated, so what was painted stays exactly
/// as painted. Properties (timestamps, colour tags, side data) are copied; the caller frees the
/// result. Nil when memory cannot be allocated.
func yuv444Copy(of src: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<AVFrame>? {
    guard let dst = av_frame_alloc() else { return nil }
    let w = Int(src.pointee.width), h = Int(src.pointee.height)
    dst.pointee.format = AV_PIX_FMT_YUV444P.rawValue
    dst.pointee.width = Int32(w)
    dst.pointee.height = Int32(h)
    var r = av_frame_get_buffer(dst, 0)
    if r >= 0 { r = av_frame_copy_props(dst, src) }
    if r < 0 {
        var d: UnsafeMutablePointer<AVFrame>? = dst
        av_frame_free(&d)
        return nil
    }
    let (sy, sys) = framePlane(src, 0), (dy, dys) = framePlane(dst, 0)
    for y in 0..<h { (dy + y * dys).update(from: sy + y * sys, count: w) }
    for plane in 1...2 {
        let (sc, scs) = framePlane(src, plane), (dc, dcs) = framePlane(dst, plane)
        for y in 0..<h {
            let from = sc + (y / 2) * scs, to = dc + y * dcs
            for x in 0..<w { to[x] = from[x / 2] }
        }
    }
    return dst
}

/// Removes every side data entry from a frame and returns their names (e.g. "User Data
/// Unregistered", "ATSC A53 Part 4 Closed Captions"). Encoders may carry some of them into the
/// output bitstream (libx264 writes closed captions back as SEI), so frames are stripped before
/// encoding.
@discardableResult
func removeAllSideData(_ frame: UnsafeMutablePointer<AVFrame>) -> [String] {
    var names: [String] = []
    while frame.pointee.nb_side_data > 0, let first = frame.pointee.side_data[0] {
        let type = first.pointee.type
        names.append(av_frame_side_data_name(type).map { String(cString: $0) } ?? "side data \(type.rawValue)")
        av_frame_remove_side_data(frame, type)
    }
    av_dict_free(&frame.pointee.metadata)
    return names
}
