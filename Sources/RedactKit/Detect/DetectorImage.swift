import CFFmpeg
import CRedactCV
import Foundation

/// Makes the detector's input from a decoded frame: scaled with libswscale so the display's
/// longer side is `longSide` pixels, turned to display orientation, converted to packed RGB,
/// and letterboxed (black right/bottom) to multiples of 32. Buffers are reused across frames.
final class DetectorImage {
    let geometry: FrameGeometry
    /// Scaled display-oriented size (before letterboxing).
    let scaledWidth: Int
    let scaledHeight: Int
    /// Network input size (multiples of 32).
    let inputWidth: Int
    let inputHeight: Int
    /// display pixels per input pixel.
    let scaleX: Double
    let scaleY: Double
    private(set) var pixels: [UInt8]
    private var rotationBuffer: [UInt8]
    /// The scaled size in stored orientation (what libswscale writes before the turn).
    private let storedScaledWidth: Int
    private let storedScaledHeight: Int
    /// Row length of `rotationBuffer` in bytes (rows padded by `swsDestinationSlack`).
    private let rotationStride: Int
    /// libswscale's block writes (`swsDestinationSlack`; the unscaled path, taken when the frame
    /// is not scaled down) spill past a row's last pixel into the letterbox, which
    /// `clearLetterboxColumns` blackens again (a 1278 px wide frame left colour there), and past
    /// the last row into the spare room at the end of each buffer.
    private static let conversionSlack = swsDestinationSlack
    private var sws: OpaquePointer?
    private let path: String
    /// True when the frame is not scaled down (its longer side fits `longSide`).
    let isFullResolution: Bool
    /// The frame last loaded, kept until the next one so the full-resolution image can be made
    /// from it on demand (one frame more held; frames are reference counted).
    private var loadedFrame: VideoFrame?
    /// The same frame at full display resolution (the second look), made only when asked for.
    private var fullResolutionImage: DetectorImage?
    private var fullResolutionFrame: Int?
    /// Where `fullResolution(frame:)` comes from instead, when set: a coarse image (loaded from
    /// the same frame as this one) shares the full-size image's, so the frame is converted at
    /// full resolution at most once.
    private let fullResolutionSource: DetectorImage?

    /// `sharingFullResolutionWith`: an image loaded from every frame this one is (see
    /// `fullResolutionSource`).
    init(geometry: FrameGeometry, longSide: Int, path: String, sharingFullResolutionWith source: DetectorImage? = nil) {
        self.geometry = geometry
        self.path = path
        fullResolutionSource = source
        let dw = Double(geometry.displayWidth), dh = Double(geometry.displayHeight)
        let s = min(1.0, Double(longSide) / max(dw, dh))
        isFullResolution = s >= 1
        // Even sizes keep swscale's chroma handling simple.
        scaledWidth = max(2, Int((dw * s / 2).rounded()) * 2)
        scaledHeight = max(2, Int((dh * s / 2).rounded()) * 2)
        inputWidth = (scaledWidth + 31) / 32 * 32
        inputHeight = (scaledHeight + 31) / 32 * 32
        scaleX = dw / Double(scaledWidth)
        scaleY = dh / Double(scaledHeight)
        pixels = [UInt8](repeating: 0, count: inputWidth * inputHeight * 3 + Self.conversionSlack)
        let turned = geometry.quarterTurns % 2 == 1
        storedScaledWidth = turned ? scaledHeight : scaledWidth
        storedScaledHeight = turned ? scaledWidth : scaledHeight
        rotationStride = (storedScaledWidth + Self.conversionSlack / 3) * 3
        rotationBuffer = geometry.quarterTurns == 0 ? [] : [UInt8](repeating: 0, count: rotationStride * storedScaledHeight + Self.conversionSlack)
    }

    deinit { sws_freeContext(sws) }

    /// The frame last loaded, at full display resolution: this image itself when it is not
    /// scaled down, else a second image converted from the same decoded frame (once per frame).
    func fullResolution(frame number: Int) throws -> DetectorImage {
        if isFullResolution { return self }
        if let fullResolutionSource { return try fullResolutionSource.fullResolution(frame: number) }
        guard let frame = loadedFrame, frame.number == number else {
            throw RedactError.detector(path: path, frame: number, detail: "no decoded frame for the full-resolution detector image")
        }
        let image = fullResolutionImage
            ?? DetectorImage(geometry: geometry, longSide: max(geometry.displayWidth, geometry.displayHeight), path: path)
        fullResolutionImage = image
        if fullResolutionFrame != number {
            fullResolutionFrame = nil
            try image.load(frame)
            fullResolutionFrame = number
        }
        return image
    }

    func load(_ frame: VideoFrame) throws {
        loadedFrame = frame
        sws = sws_getCachedContext(sws, Int32(frame.width), Int32(frame.height), frame.pixelFormat,
                                   Int32(storedScaledWidth), Int32(storedScaledHeight), AV_PIX_FMT_RGB24,
                                   SWS_BILINEAR, nil, nil, nil)
        guard let sws else {
            throw RedactError.detector(path: path, frame: frame.number, detail: "cannot convert pixel format for the detector")
        }
        let (srcData, srcStride) = swsSource(frame.pointer)
        if geometry.quarterTurns == 0 {
            let stride = Int32(inputWidth * 3)
            let rows = pixels.withUnsafeMutableBufferPointer { buf -> Int32 in
                var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
                var dstStride: [Int32] = [stride, 0, 0, 0]
                return sws_scale(sws, srcData, srcStride, 0, Int32(frame.height), &dst, &dstStride)
            }
            if rows <= 0 { throw RedactError.detector(path: path, frame: frame.number, detail: "scaling for the detector failed") }
            clearLetterboxColumns()
            return
        }
        let rows = rotationBuffer.withUnsafeMutableBufferPointer { buf -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var dstStride: [Int32] = [Int32(rotationStride), 0, 0, 0]
            return sws_scale(sws, srcData, srcStride, 0, Int32(frame.height), &dst, &dstStride)
        }
        if rows <= 0 { throw RedactError.detector(path: path, frame: frame.number, detail: "scaling for the detector failed") }
        var err = [CChar](repeating: 0, count: 512)
        let r = rotationBuffer.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                rcv_rotate_rgb(src.baseAddress, Int32(storedScaledWidth), Int32(storedScaledHeight), Int32(rotationStride),
                               dst.baseAddress, Int32(inputWidth * 3), Int32(geometry.quarterTurns), &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame.number, detail: String(cString: err)) }
    }

    /// Blackens the letterbox columns the conversion may have written past each row's last pixel.
    private func clearLetterboxColumns() {
        let first = scaledWidth, end = min(inputWidth, scaledWidth + Self.conversionSlack / 3)
        pixels.withUnsafeMutableBufferPointer { buf in
            if end > first {
                for y in 0..<scaledHeight {
                    (buf.baseAddress! + (y * inputWidth + first) * 3).update(repeating: 0, count: (end - first) * 3)
                }
            }
            // The last row's overrun, when it has no letterbox columns, lands in the first
            // letterbox row (or the spare room at the end).
            let afterLast = ((scaledHeight - 1) * inputWidth + scaledWidth) * 3
            (buf.baseAddress! + afterLast).update(repeating: 0, count: min(Self.conversionSlack, buf.count - afterLast))
        }
    }
}
