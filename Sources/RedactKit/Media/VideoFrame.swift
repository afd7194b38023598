import CFFmpeg

/// One decoded picture, owned by Swift (the AVFrame is freed with the last reference).
/// `number` is 1-based in decoder output order, the numbering used in every JSON file.
public final class VideoFrame: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<AVFrame>
    public let number: Int
    /// Presentation timestamp in the input stream's time base.
    public let pts: Int64

    init(taking frame: UnsafeMutablePointer<AVFrame>, number: Int, pts: Int64) {
        pointer = frame
        self.number = number
        self.pts = pts
    }

    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }

    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: pointer.pointee.format) }
}
