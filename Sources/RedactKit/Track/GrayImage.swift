import CRedactCV
import Foundation

/// A small grey copy of a frame in display orientation, kept for optical flow.
/// `scale` is display pixels per image pixel.
struct GrayImage {
    let width: Int
    let height: Int
    let scale: Double
    let pixels: [UInt8]

    /// Half the detector image's resolution: enough for flow on faces, and cheap.
    static func fromDetectorImage(_ image: DetectorImage, path: String, frame: Int) throws -> GrayImage {
        let w = max(8, image.scaledWidth / 2), h = max(8, image.scaledHeight / 2)
        var pixels = [UInt8](repeating: 0, count: w * h)
        var err = [CChar](repeating: 0, count: 512)
        let r = image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                rcv_rgb_to_gray_resized(src.baseAddress, Int32(image.scaledWidth), Int32(image.scaledHeight), Int32(image.inputWidth * 3),
                                        dst.baseAddress, Int32(w), Int32(h), Int32(w), &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: "grey image: \(String(cString: err))") }
        return GrayImage(width: w, height: h, scale: image.scaleX * Double(image.scaledWidth) / Double(w), pixels: pixels)
    }
}

/// Moves boxes (display pixels) from one grey frame to the next with Lucas-Kanade flow.
/// Returns nil for a box whose points could not be followed.
func flowTrack(_ boxes: [Box], from previous: GrayImage, to next: GrayImage) -> [Box?] {
    guard !boxes.isEmpty, previous.width == next.width, previous.height == next.height else {
        return boxes.map { _ in nil }
    }
    let s = previous.scale
    var input: [Float] = []
    for b in boxes { input += [Float(b.x / s), Float(b.y / s), Float(b.w / s), Float(b.h / s)] }
    var output = [Float](repeating: 0, count: input.count)
    var ok = [UInt8](repeating: 0, count: boxes.count)
    var err = [CChar](repeating: 0, count: 512)
    let r = previous.pixels.withUnsafeBufferPointer { a in
        next.pixels.withUnsafeBufferPointer { b in
            rcv_flow_track_boxes(a.baseAddress, b.baseAddress, Int32(previous.width), Int32(previous.height), Int32(previous.width),
                                 input, Int32(boxes.count), &output, &ok, &err, err.count)
        }
    }
    guard r == RCV_OK else { return boxes.map { _ in nil } }
    return (0..<boxes.count).map { i in
        ok[i] == 0 ? nil : Box(x: Double(output[4 * i]) * s, y: Double(output[4 * i + 1]) * s,
                              w: Double(output[4 * i + 2]) * s, h: Double(output[4 * i + 3]) * s)
    }
}
