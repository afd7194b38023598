import CFFmpeg
import Foundation

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
        Self.census.born()
    }

    deinit {
        Self.census.died()
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }

    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: pointer.pointee.format) }
}

/// How many decoded pictures are alive at once: what bounds a job's memory, since a 1080p picture
/// is 3 MB. Tests read the peak to check that a job holds a bounded number of pictures.
final class PictureCensus: @unchecked Sendable {
    private let lock = NSLock()
    private var live = 0
    private var highest = 0

    func born() {
        lock.lock()
        live += 1
        highest = max(highest, live)
        lock.unlock()
    }

    func died() {
        lock.lock()
        live -= 1
        lock.unlock()
    }

    /// The most pictures alive at once since the last call; starts the next count from now.
    func takePeak() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let peak = highest
        highest = live
        return peak
    }
}

extension VideoFrame {
    static let census = PictureCensus()
}
