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
    /// A scaled-down frame's planar RGB (G, B, R planes, libswscale's order), packed into
    /// `pixels` (or `rotationBuffer`) by `packer`; allocated on the first such frame.
    private var planar: [UInt8] = []
    private var packer: OpaquePointer?
    /// Row length of each plane of `planar` (whole 64-byte blocks, for libswscale's vector writes).
    private var planarStride: Int { (storedScaledWidth + 63) / 64 * 64 }
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

    deinit {
        sws_freeContext(sws)
        sws_freeContext(packer)
    }

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
        if geometry.quarterTurns == 0 {
            let stride = inputWidth * 3
            try pixels.withUnsafeMutableBufferPointer { buf in
                try convert(frame, into: buf.baseAddress!, stride: stride)
            }
            clearLetterboxColumns()
            return
        }
        try rotationBuffer.withUnsafeMutableBufferPointer { buf in
            try convert(frame, into: buf.baseAddress!, stride: rotationStride)
        }
        var err = [CChar](repeating: 0, count: 512)
        let r = rotationBuffer.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                rcv_rotate_rgb(src.baseAddress, Int32(storedScaledWidth), Int32(storedScaledHeight), Int32(rotationStride),
                               dst.baseAddress, Int32(inputWidth * 3), Int32(geometry.quarterTurns), &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame.number, detail: String(cString: err)) }
    }

    /// Converts `frame` to packed RGB at the scaled size in stored orientation, rows `stride`
    /// bytes apart. A frame scaled down goes through planar RGB first: libswscale's scaler writes
    /// planar RGB with each pixel's own chroma (it always interpolates chroma fully for planar
    /// output) and then packs it without scaling, where scaling straight into packed RGB gives
    /// each pair of pixels one chroma sample and took longer (dev04, 1080p to 1280x720 on one
    /// core: 4.0 ms a frame straight, 2.3 ms in two steps; docs/performance.md). A frame kept at
    /// its size takes libswscale's unscaled converter, which is faster still.
    private func convert(_ frame: VideoFrame, into destination: UnsafeMutablePointer<UInt8>, stride: Int) throws {
        let (srcData, srcStride) = swsSource(frame.pointer)
        let width = Int32(storedScaledWidth), height = Int32(storedScaledHeight)
        if isFullResolution {
            sws = sws_getCachedContext(sws, Int32(frame.width), Int32(frame.height), frame.pixelFormat,
                                       width, height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nil, nil, nil)
            guard let sws else {
                throw RedactError.detector(path: path, frame: frame.number, detail: "cannot convert pixel format for the detector")
            }
            var dst: [UnsafeMutablePointer<UInt8>?] = [destination, nil, nil, nil]
            var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
            if sws_scale(sws, srcData, srcStride, 0, Int32(frame.height), &dst, &dstStride) <= 0 {
                throw RedactError.detector(path: path, frame: frame.number, detail: "scaling for the detector failed")
            }
            return
        }
        sws = sws_getCachedContext(sws, Int32(frame.width), Int32(frame.height), frame.pixelFormat,
                                   width, height, AV_PIX_FMT_GBRP, SWS_BILINEAR, nil, nil, nil)
        packer = sws_getCachedContext(packer, width, height, AV_PIX_FMT_GBRP, width, height, AV_PIX_FMT_RGB24,
                                      SWS_BILINEAR, nil, nil, nil)
        guard let sws, let packer else {
            throw RedactError.detector(path: path, frame: frame.number, detail: "cannot convert pixel format for the detector")
        }
        // Each plane with spare room after its last row, so a block write past it does not land
        // in the next plane's first row (written before it).
        let planeSize = planarStride * storedScaledHeight + Self.conversionSlack
        if planar.isEmpty { planar = [UInt8](repeating: 0, count: planeSize * 3) }
        let planeStride = Int32(planarStride)
        let ok = planar.withUnsafeMutableBufferPointer { buf -> Bool in
            let base = buf.baseAddress!
            var planes: [UnsafeMutablePointer<UInt8>?] = [base, base + planeSize, base + 2 * planeSize, nil]
            var planeStrides: [Int32] = [planeStride, planeStride, planeStride, 0]
            guard sws_scale(sws, srcData, srcStride, 0, Int32(frame.height), &planes, &planeStrides) > 0 else { return false }
            let scaled: [UnsafePointer<UInt8>?] = planes.map { $0.map { UnsafePointer($0) } }
            var dst: [UnsafeMutablePointer<UInt8>?] = [destination, nil, nil, nil]
            var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
            return sws_scale(packer, scaled, planeStrides, 0, height, &dst, &dstStride) > 0
        }
        if !ok { throw RedactError.detector(path: path, frame: frame.number, detail: "scaling for the detector failed") }
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
